import type { GenerationRequest, GenerationResult, Usage } from '@aigw/core';
import { applyRoutingChoices, toChatMessage, toOptions, type RequestFrame } from '../generation/request-frame';
import type { ChatCompletionDto } from './chat-completion.dto';

export function chatCompletionRequest(dto: ChatCompletionDto, frame: RequestFrame): GenerationRequest {
  const request: GenerationRequest = {
    requestId: frame.requestId,
    model: dto.model,
    messages: dto.messages.map(toChatMessage),
    options: toOptions({
      temperature: dto.temperature,
      // max_completion_tokens supersedes max_tokens in OpenAI's API; honour it when both are sent.
      maxTokens: dto.max_completion_tokens ?? dto.max_tokens,
      topP: dto.top_p,
      stop: dto.stop,
    }),
    stream: dto.stream === true,
    userId: frame.userId,
    apiKeyId: frame.apiKeyId,
    deadlineAt: frame.deadlineAt,
    receivedAt: frame.receivedAt,
  };
  applyRoutingChoices(request, dto, frame);
  return request;
}

export interface OpenAiUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

export function openAiUsage(u: Usage): OpenAiUsage {
  return {
    prompt_tokens: u.promptTokens,
    completion_tokens: u.completionTokens,
    total_tokens: u.totalTokens,
    prompt_tokens_details: { cached_tokens: u.cachedPromptTokens },
  };
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: {
    index: 0;
    message: { role: 'assistant'; content: string };
    finish_reason: string;
    logprobs: null;
  }[];
  usage: OpenAiUsage;
}

/** `model` is the deployment that answered (`provider/model`), so clients see where their answer came from. */
export function chatCompletionBody(result: GenerationResult): ChatCompletion {
  return {
    id: result.id,
    object: 'chat.completion',
    created: result.created,
    model: `${result.provider}/${result.model}`,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: result.text },
        finish_reason: result.finishReason ?? 'stop',
        logprobs: null,
      },
    ],
    usage: openAiUsage(result.usage),
  };
}
