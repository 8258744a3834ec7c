import { Body, Controller, HttpCode, Post, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { fastifyClient } from '../http/client';
import { ChatCompletionDto } from './chat-completion.dto';
import { ChatCompletionsService } from './chat-completions.service';

@Controller('v1')
export class ChatCompletionsController {
  constructor(private readonly chat: ChatCompletionsService) {}

  /** Writes its own response: JSON, or SSE that outlives the handler. */
  @Post('chat/completions')
  @HttpCode(200)
  async create(@Body() dto: ChatCompletionDto, @Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const body = await this.chat.create(dto, fastifyClient(req, reply));
    if (body !== null) {
      void reply.send(body);
    }
  }
}
