import { Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { GenerationService } from '../generation/generation.service';
import { IDEMPOTENCY_HEADER, idempotencyKeyOf } from '../generation/idempotency';
import type { AuthContext } from '../http/request-context';
import { resultHeaders } from '../http/result-headers';
import type { MessagesDto } from './messages.dto';
import { inAnthropicTerms, messagesRequest } from './messages-request';
import { anthropicMessageBody } from './messages-response';
import { anthropicStream } from './messages-sse';

/**
 * `POST /v1/messages`: Anthropic's Messages API in and out, routed like chat completions (same queue, worker,
 * policies, fallback and breaker) to any provider family, which the worker's adapters translate to.
 */
@Injectable()
export class MessagesService {
  constructor(private readonly generation: GenerationService) {}

  async create(dto: MessagesDto, auth: AuthContext, req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const request = messagesRequest(dto, this.generation.frame(req, auth, 'sync'), req.body);
    try {
      this.generation.assertServable(request);
    } catch (err) {
      throw inAnthropicTerms(err);
    }
    const submission = {
      request,
      endpoint: 'messages',
      body: req.body,
      idempotencyKey: idempotencyKeyOf(req.headers[IDEMPOTENCY_HEADER]),
    };
    if (request.stream) {
      await this.generation.stream(submission, req, reply, anthropicStream);
      return;
    }
    const result = await this.generation.answer(submission, req, reply);
    void reply.headers(resultHeaders(result)).send(anthropicMessageBody(result));
  }
}
