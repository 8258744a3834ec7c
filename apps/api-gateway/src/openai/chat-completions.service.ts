import { Injectable } from '@nestjs/common';
import { GenerationService } from '../generation/generation.service';
import type { Client } from '../http/client';
import { assertChatRules } from '../validation/chat-rules';
import type { ChatCompletionDto } from './chat-completion.dto';
import { chatCompletionBody, chatCompletionRequest, inChatTerms, type ChatCompletion } from './openai-mapping';
import { openAiStream } from './sse-format';

/** `POST /v1/chat/completions`: one JSON answer, or an SSE stream when `stream` is true. */
@Injectable()
export class ChatCompletionsService {
  constructor(private readonly generation: GenerationService) {}

  /** The answer's body, or null when the answer was streamed to the client. */
  async create(dto: ChatCompletionDto, client: Client): Promise<ChatCompletion | null> {
    assertChatRules(dto);
    const request = chatCompletionRequest(dto, this.generation.frame(client, 'sync'), client.body);
    const submission = { request, endpoint: 'chat.completions' };
    try {
      if (request.stream) {
        await this.generation.stream(submission, client, openAiStream(dto.stream_options?.include_usage === true));
        return null;
      }
      return chatCompletionBody(await this.generation.answer(submission, client));
    } catch (err) {
      // A tool named by its place among the tools offered, told by its place in the body (see `inChatTerms`).
      throw inChatTerms(err, dto);
    }
  }
}
