import { Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { GenerationService } from '../generation/generation.service';
import { fastifyClient } from '../http/client';
import { assertChatRules } from '../validation/chat-rules';
import type { ChatCompletionDto } from './chat-completion.dto';
import { chatCompletionBody, chatCompletionRequest } from './openai-mapping';
import { openAiStream } from './sse-format';

/** `POST /v1/chat/completions`: one JSON answer, or an SSE stream when `stream` is true. */
@Injectable()
export class ChatCompletionsService {
  constructor(private readonly generation: GenerationService) {}

  async create(dto: ChatCompletionDto, req: FastifyRequest, reply: FastifyReply): Promise<void> {
    assertChatRules(dto);
    const client = fastifyClient(req, reply);
    const request = chatCompletionRequest(dto, this.generation.frame(client, 'sync'), req.body);
    const submission = { request, endpoint: 'chat.completions' };
    if (request.stream) {
      await this.generation.stream(submission, client, openAiStream(dto.stream_options?.include_usage === true));
      return;
    }
    const result = await this.generation.answer(submission, client);
    void reply.send(chatCompletionBody(result));
  }
}
