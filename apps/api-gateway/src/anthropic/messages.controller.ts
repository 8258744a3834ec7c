import { Body, Controller, HttpCode, Post, Req, Res } from '@nestjs/common';
import { ANTHROPIC_ERRORS } from '@aigw/platform';
import { RouteConfig } from '@nestjs/platform-fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { fastifyClient } from '../http/client';
import { MessagesInputDto, MessagesDto } from './messages.dto';
import { MessagesService } from './messages.service';

/**
 * Anthropic-compatible: errors on these routes, validation and auth included, come in Anthropic's shape, and every
 * answer carries the request id in `request-id` too (`installRequestContext`).
 */
@Controller('v1')
export class MessagesController {
  constructor(private readonly messages: MessagesService) {}

  /** Writes its own response: JSON, or SSE that outlives the handler. */
  @Post('messages')
  @HttpCode(200)
  @RouteConfig(ANTHROPIC_ERRORS)
  async create(@Body() dto: MessagesDto, @Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const body = await this.messages.create(dto, fastifyClient(req, reply));
    if (body !== null) {
      void reply.send(body);
    }
  }

  /** The prompt's tokens, counted by the gateway (an estimate for Claude); no provider is called. */
  @Post('messages/count_tokens')
  @HttpCode(200)
  @RouteConfig(ANTHROPIC_ERRORS)
  countTokens(
    @Body() dto: MessagesInputDto,
    @Req() req: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): { input_tokens: number } {
    return this.messages.countTokens(dto, fastifyClient(req, reply));
  }
}
