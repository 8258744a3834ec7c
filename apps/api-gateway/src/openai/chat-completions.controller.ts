import { Body, Controller, HttpCode, Post, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ChatCompletionDto } from './chat-completion.dto';
import { ChatCompletionsService } from './chat-completions.service';

@Controller('v1')
export class ChatCompletionsController {
  constructor(private readonly chat: ChatCompletionsService) {}

  /** Writes its own response: JSON, or SSE that outlives the handler. */
  @Post('chat/completions')
  @HttpCode(200)
  create(@Body() dto: ChatCompletionDto, @Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    return this.chat.create(dto, req, reply);
  }
}
