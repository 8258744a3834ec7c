import 'reflect-metadata';
import { plainToInstance } from 'class-transformer';
import type { GenerationResult } from '@aigw/core';
import type { RequestFrame } from '../generation/request-frame';
import { ChatCompletionDto } from './chat-completion.dto';
import { chatCompletionBody, chatCompletionRequest } from './openai-mapping';

const frame: RequestFrame = { requestId: 'req_1', userId: 'u1', apiKeyId: 'k1', receivedAt: 1000, deadlineAt: 121000 };

function dto(body: Record<string, unknown>): ChatCompletionDto {
  return plainToInstance(ChatCompletionDto, { model: 'sim-gpt', messages: [{ role: 'user', content: 'hi' }], ...body });
}

describe('chatCompletionRequest', () => {
  it('maps the OpenAI body to a GenerationRequest with plain messages', () => {
    const req = chatCompletionRequest(
      dto({
        messages: [
          { role: 'system', content: 'sys' },
          { role: 'user', content: [{ type: 'text', text: 'look' }], name: 'ann' },
          { role: 'assistant', content: null },
          { role: 'tool', content: '42', tool_call_id: 'call_1' },
        ],
        temperature: 0.2,
        top_p: 0.9,
        max_tokens: 50,
        stop: 'END',
        stream: true,
        user: 'ignored',
      }),
      frame,
    );
    expect(req).toEqual({
      requestId: 'req_1',
      model: 'sim-gpt',
      messages: [
        { role: 'system', content: 'sys' },
        { role: 'user', content: [{ type: 'text', text: 'look' }], name: 'ann' },
        { role: 'assistant', content: null },
        { role: 'tool', content: '42', tool_call_id: 'call_1' },
      ],
      options: { temperature: 0.2, topP: 0.9, maxTokens: 50, stop: ['END'] },
      stream: true,
      userId: 'u1',
      apiKeyId: 'k1',
      receivedAt: 1000,
      deadlineAt: 121000,
    });
    expect(Object.getPrototypeOf(req.messages[0])).toBe(Object.prototype);
  });

  it('prefers max_completion_tokens over max_tokens and drops nulls', () => {
    const req = chatCompletionRequest(
      dto({ max_tokens: 10, max_completion_tokens: 20, temperature: null, stop: null, stream: null }),
      frame,
    );
    expect(req.options).toEqual({ maxTokens: 20 });
    expect(req.stream).toBe(false);
  });

  it("takes the body's policy over the header's", () => {
    expect(chatCompletionRequest(dto({}), { ...frame, policy: 'cost' }).policy).toBe('cost');
    expect(chatCompletionRequest(dto({ policy: 'latency' }), { ...frame, policy: 'cost' }).policy).toBe('latency');
    expect('policy' in chatCompletionRequest(dto({}), frame)).toBe(false);
  });
});

describe('chatCompletionBody', () => {
  const result: GenerationResult = {
    requestId: 'req_1',
    id: 'chatcmpl-9',
    created: 1700000000,
    text: 'hello',
    finishReason: null,
    provider: 'openai',
    model: 'gpt-4o-mini',
    route: 'direct',
    usage: { promptTokens: 5, completionTokens: 1, totalTokens: 6, cachedPromptTokens: 2 },
    costUsd: 0.0001,
    latencyMs: 100,
    providerLatencyMs: 90,
    attempts: [],
  };

  it('is an OpenAI chat.completion naming the deployment that answered', () => {
    expect(chatCompletionBody(result)).toEqual({
      id: 'chatcmpl-9',
      object: 'chat.completion',
      created: 1700000000,
      model: 'openai/gpt-4o-mini',
      choices: [{ index: 0, message: { role: 'assistant', content: 'hello' }, finish_reason: 'stop', logprobs: null }],
      usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6, prompt_tokens_details: { cached_tokens: 2 } },
    });
  });

  it('keeps a finish reason the provider gave', () => {
    expect(chatCompletionBody({ ...result, finishReason: 'length' }).choices[0].finish_reason).toBe('length');
  });
});
