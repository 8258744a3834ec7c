import { Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { GenerationService } from '../generation/generation.service';
import { fastifyClient } from '../http/client';
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

  async create(dto: MessagesDto, req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const client = fastifyClient(req, reply);
    const request = messagesRequest(dto, this.generation.frame(client, 'sync'), req.body);
    const submission = { request, endpoint: 'messages' };
    try {
      if (request.stream) {
        await this.generation.stream(submission, client, anthropicStream);
        return;
      }
      const result = await this.generation.answer(submission, client);
      void reply.send(anthropicMessageBody(result));
    } catch (err) {
      // Field names of the gateway's checks (e.g. `tools`) in the Messages API's own terms.
      throw inAnthropicTerms(err);
    }
  }
}
