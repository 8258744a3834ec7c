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
      options: { temperature: 0.2, topP: 0.9, maxTokens: 50, stop: ['END'], user: 'ignored' },
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
    expect(req.options).toEqual({ maxTokens: 20, maxTokensField: 'max_completion_tokens' });
    expect(req.stream).toBe(false);
  });

  it("takes the body's policy over the header's", () => {
    expect(chatCompletionRequest(dto({}), { ...frame, policy: 'cost' }).policy).toBe('cost');
    expect(chatCompletionRequest(dto({ policy: 'latency' }), { ...frame, policy: 'cost' }).policy).toBe('latency');
    expect('policy' in chatCompletionRequest(dto({}), frame)).toBe(false);
  });
});

describe('chatCompletionRequest: every field round-trips', () => {
  const tools = [
    {
      type: 'function',
      function: {
        name: 'get_weather',
        description: 'Weather now',
        parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        strict: true,
      },
    },
  ];
  const body = {
    model: 'sim-gpt',
    messages: [
      { role: 'developer', content: 'be terse' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'what is this?' },
          { type: 'image_url', image_url: { url: 'https://x/cat.png', detail: 'low' } },
          { type: 'input_audio', input_audio: { data: 'UklGR', format: 'wav' } },
          { type: 'file', file: { file_id: 'file-1' } },
        ],
      },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
        ],
      },
      { role: 'tool', content: '12C', tool_call_id: 'call_1' },
      { role: 'assistant', content: 'no', refusal: 'I cannot' },
    ],
    tools,
    tool_choice: { type: 'function', function: { name: 'get_weather' } },
    parallel_tool_calls: false,
    response_format: { type: 'json_schema', json_schema: { name: 'w', schema: { type: 'object' }, strict: true } },
    seed: 7,
    presence_penalty: 0.5,
    frequency_penalty: -0.5,
    logit_bias: { '50256': -100 },
    logprobs: true,
    top_logprobs: 3,
    user: 'end-user-1',
    reasoning_effort: 'low',
    metadata: { team: 'a' },
    stream_options: { include_usage: true },
    // Not modelled by the gateway: passed through to OpenAI-compatible providers.
    service_tier: 'flex',
    prediction: { type: 'content', content: 'x' },
    store: null,
  };

  it('keeps tool calls, tool results, refusals and every content part as plain data', () => {
    const req = chatCompletionRequest(dto(body), frame, body);
    expect(req.messages).toEqual([
      { role: 'system', content: 'be terse' },
      body.messages[1],
      body.messages[2],
      body.messages[3],
      body.messages[4],
    ]);
    expect(Object.getPrototypeOf(req.messages[2].tool_calls?.[0])).toBe(Object.prototype);
    expect(JSON.parse(JSON.stringify(req))).toEqual(req);
  });

  it('carries every generation field, and unknown top-level fields (not nulls) in extra', () => {
    const req = chatCompletionRequest(dto(body), frame, body);
    expect(req.options).toEqual({
      tools,
      toolChoice: { type: 'function', function: { name: 'get_weather' } },
      parallelToolCalls: false,
      responseFormat: body.response_format,
      seed: 7,
      presencePenalty: 0.5,
      frequencyPenalty: -0.5,
      logitBias: { '50256': -100 },
      logprobs: true,
      topLogprobs: 3,
      user: 'end-user-1',
      reasoningEffort: 'low',
      metadata: { team: 'a' },
      extra: { service_tier: 'flex', prediction: { type: 'content', content: 'x' } },
    });
    expect(Object.getPrototypeOf(req.options.tools?.[0])).toBe(Object.prototype);
  });

  it("leaves out values that ask for OpenAI's defaults, so families without the field still serve them", () => {
    const defaults = {
      presence_penalty: 0,
      frequency_penalty: 0,
      logprobs: false,
      parallel_tool_calls: true,
      metadata: {},
      logit_bias: {},
      store: false,
      modalities: ['text'],
      service_tier: 'auto',
      temperature: 1,
    };
    const req = chatCompletionRequest(dto(defaults), frame, { model: 'sim-gpt', messages: [], ...defaults });
    // Temperature 1 is OpenAI's default but not every family's: it is sent as asked.
    expect(req.options).toEqual({ temperature: 1 });
    const sampled = chatCompletionRequest(dto({ top_k: 40 }), frame, {
      model: 'sim-gpt',
      messages: [],
      top_k: 40,
      other: 1,
    });
    // top_k is modelled (every family samples with it); other unknown fields pass through as before.
    expect(sampled.options).toEqual({ topK: 40, extra: { other: 1 } });
    const asked = {
      presence_penalty: 0.1,
      logprobs: true,
      parallel_tool_calls: false,
      metadata: { a: 'b' },
      logit_bias: { '50256': -100 },
      store: true,
      modalities: ['text', 'audio'],
      service_tier: 'flex',
    };
    const kept = chatCompletionRequest(dto(asked), frame, { model: 'sim-gpt', messages: [], ...asked });
    expect(kept.options).toEqual({
      presencePenalty: 0.1,
      logprobs: true,
      parallelToolCalls: false,
      metadata: { a: 'b' },
      logitBias: { '50256': -100 },
      extra: { store: true, modalities: ['text', 'audio'], service_tier: 'flex' },
    });
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

  it("carries a chatcmpl- id whatever family answered, the provider's id kept after the prefix", () => {
    expect(chatCompletionBody({ ...result, id: 'msg_01XYZ', provider: 'claude' }).id).toBe('chatcmpl-msg_01XYZ');
    expect(chatCompletionBody({ ...result, id: 'chatcmpl-9' }).id).toBe('chatcmpl-9');
  });

  it('is an OpenAI chat.completion naming the deployment that answered', () => {
    expect(chatCompletionBody(result)).toEqual({
      id: 'chatcmpl-9',
      object: 'chat.completion',
      created: 1700000000,
      model: 'openai/gpt-4o-mini',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'hello', refusal: null },
          finish_reason: 'stop',
          logprobs: null,
        },
      ],
      usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6, prompt_tokens_details: { cached_tokens: 2 } },
    });
  });

  it('carries tool calls (null content), refusal, reasoning, logprobs, fingerprint and usage details', () => {
    const toolCalls = [{ id: 'call_1', type: 'function' as const, function: { name: 'f', arguments: '{}' } }];
    const logprobs = { content: [{ token: 'a', logprob: -0.1, bytes: [97], top_logprobs: [] }] };
    const body = chatCompletionBody({
      ...result,
      text: '',
      finishReason: 'tool_calls',
      toolCalls,
      reasoning: 'thinking',
      logprobs,
      systemFingerprint: 'fp_1',
      usage: { ...result.usage, reasoningTokens: 4 },
    });
    expect(body.choices[0]).toEqual({
      index: 0,
      message: {
        role: 'assistant',
        content: null,
        refusal: null,
        tool_calls: toolCalls,
        reasoning_content: 'thinking',
      },
      finish_reason: 'tool_calls',
      logprobs,
    });
    expect(body.system_fingerprint).toBe('fp_1');
    expect(body.usage.completion_tokens_details).toEqual({ reasoning_tokens: 4 });
    expect(chatCompletionBody({ ...result, refusal: 'no' }).choices[0].message.refusal).toBe('no');
  });

  it('answers a refusal with null content, as OpenAI does (and as the streamed answer assembles)', () => {
    const refused = chatCompletionBody({ ...result, text: '', refusal: "I can't help with that." }).choices[0].message;
    expect(refused).toEqual({ role: 'assistant', content: null, refusal: "I can't help with that." });
    // Text that came with it stays.
    expect(chatCompletionBody({ ...result, text: 'Sorry.', refusal: 'no' }).choices[0].message.content).toBe('Sorry.');
  });

  it('keeps a finish reason the provider gave', () => {
    expect(chatCompletionBody({ ...result, finishReason: 'length' }).choices[0].finish_reason).toBe('length');
  });
});
