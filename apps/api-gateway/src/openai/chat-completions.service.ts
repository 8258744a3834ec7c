import { Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { GenerationService } from '../generation/generation.service';
import { IDEMPOTENCY_HEADER, idempotencyKeyOf } from '../generation/idempotency';
import type { AuthContext } from '../http/request-context';
import { resultHeaders } from '../http/result-headers';
import { assertChatRules } from '../validation/chat-rules';
import type { ChatCompletionDto } from './chat-completion.dto';
import { chatCompletionBody, chatCompletionRequest } from './openai-mapping';
import { openAiStream } from './sse-format';

/** `POST /v1/chat/completions`: one JSON answer, or an SSE stream when `stream` is true. */
@Injectable()
export class ChatCompletionsService {
  constructor(private readonly generation: GenerationService) {}

  async create(dto: ChatCompletionDto, auth: AuthContext, req: FastifyRequest, reply: FastifyReply): Promise<void> {
    assertChatRules(dto);
    const request = chatCompletionRequest(dto, this.generation.frame(req, auth, 'sync'), req.body);
    this.generation.assertServable(request);
    const submission = {
      request,
      endpoint: 'chat.completions',
      body: req.body,
      idempotencyKey: idempotencyKeyOf(req.headers[IDEMPOTENCY_HEADER]),
    };
    if (submission.request.stream) {
      await this.generation.stream(submission, req, reply, openAiStream(dto.stream_options?.include_usage === true));
      return;
    }
    const result = await this.generation.answer(submission, req, reply);
    void reply.headers(resultHeaders(result)).send(chatCompletionBody(result));
  }
}
