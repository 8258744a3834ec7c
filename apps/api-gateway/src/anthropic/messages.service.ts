import { Injectable } from '@nestjs/common';
import { estimateRequestTokens } from '@aigw/core';
import { GenerationService } from '../generation/generation.service';
import type { Client } from '../http/client';
import type { MessagesInputDto, MessagesDto } from './messages.dto';
import { ANTHROPIC_BETA_HEADER, anthropicBetasOf, inAnthropicTerms, messagesRequest } from './messages-request';
import { anthropicMessageBody, type AnthropicMessage } from './messages-response';
import { anthropicStream } from './messages-sse';

/**
 * `POST /v1/messages`: Anthropic's Messages API in and out, routed like chat completions (same queue, worker,
 * policies, fallback and breaker) to any provider family, which the worker's adapters translate to.
 */
@Injectable()
export class MessagesService {
  constructor(private readonly generation: GenerationService) {}

  /** The answer's body, or null when the answer was streamed to the client. */
  async create(dto: MessagesDto, client: Client): Promise<AnthropicMessage | null> {
    const request = messagesRequest(dto, this.generation.frame(client, 'sync'), client.body);
    const betas = anthropicBetasOf(client.header(ANTHROPIC_BETA_HEADER));
    if (betas !== undefined) {
      request.options.anthropicBeta = betas;
    }
    const submission = { request, endpoint: 'messages' };
    try {
      if (request.stream) {
        await this.generation.stream(submission, client, anthropicStream);
        return null;
      }
      return anthropicMessageBody(await this.generation.answer(submission, client));
    } catch (err) {
      // Field names of the gateway's checks (e.g. `tools`) in the Messages API's own terms.
      throw inAnthropicTerms(err);
    }
  }

  /**
   * `POST /v1/messages/count_tokens`: the prompt's tokens as the gateway counts them for routing and budgets (the
   * cl100k tokenizer, tool definitions included, PDF documents by their size): an estimate for Claude, whose own
   * tokenizer differs by up to ~20 %. Nothing is enqueued and no provider is called. The model is checked as `/v1/messages` checks it before
   * admission: the key's allow-list (403 model_not_allowed), then what the catalog serves (404 model_not_found, 400
   * for a capability none of its deployments has); rate limits are not charged.
   */
  countTokens(dto: MessagesInputDto, client: Client): { input_tokens: number } {
    // Checked and translated as a Messages request is; it sends no max_tokens, so none limits the thinking budget.
    const messages: MessagesDto = Object.assign({ max_tokens: Number.MAX_SAFE_INTEGER }, dto);
    try {
      const request = messagesRequest(messages, this.generation.frame(client, 'sync'), client.body);
      this.generation.check(request, client.caller);
      return { input_tokens: estimateRequestTokens(request.messages, request.options.tools) };
    } catch (err) {
      throw inAnthropicTerms(err);
    }
  }
}
