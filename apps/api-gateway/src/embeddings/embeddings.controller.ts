import { Body, Controller, HttpCode, Post, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { fastifyClient } from '../http/client';
import { EmbeddingsDto } from './embeddings.dto';
import { EmbeddingsService } from './embeddings.service';

@Controller('v1')
export class EmbeddingsController {
  constructor(private readonly embeddings: EmbeddingsService) {}

  @Post('embeddings')
  @HttpCode(200)
  async create(@Body() dto: EmbeddingsDto, @Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    void reply.send(await this.embeddings.create(dto, fastifyClient(req, reply)));
  }
}
