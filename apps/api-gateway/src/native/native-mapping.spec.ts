import 'reflect-metadata';
import { plainToInstance } from 'class-transformer';
import { ErrorCode, GatewayError, type GenerationResult } from '@aigw/core';
import type { RequestFrame } from '../generation/request-frame';
import { GenerateDto } from './generate.dto';
import { generateResponse, nativeParam, nativeRequest, withNativeParam } from './native-mapping';

const frame: RequestFrame = { requestId: 'req_2', userId: 'u1', apiKeyId: 'k1', receivedAt: 5, deadlineAt: 10 };

function dto(body: Record<string, unknown>): GenerateDto {
  return plainToInstance(GenerateDto, body);
}

function paramOf(fn: () => unknown): string | null {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe(ErrorCode.InvalidRequest);
    return (err as GatewayError).param;
  }
  throw new Error('expected a GatewayError');
}

describe('nativeRequest', () => {
  it('turns prompt + systemPrompt into messages, with the auto model by default', () => {
    const req = nativeRequest(
      dto({ prompt: 'hi', systemPrompt: 'be brief', options: { maxTokens: 5, stop: ['x'] }, context: 'coding' }),
      frame,
    );
    expect(req).toEqual({
      requestId: 'req_2',
      model: 'auto',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'hi' },
      ],
      options: { maxTokens: 5, stop: ['x'] },
      stream: false,
      context: 'coding',
      userId: 'u1',
      apiKeyId: 'k1',
      receivedAt: 5,
      deadlineAt: 10,
    });
  });

  it('takes messages as given, a system prompt going first', () => {
    const req = nativeRequest(
      dto({ messages: [{ role: 'user', content: 'q' }], systemPrompt: 's', model: 'p/m', policy: 'quality' }),
      frame,
    );
    expect(req.messages).toEqual([
      { role: 'system', content: 's' },
      { role: 'user', content: 'q' },
    ]);
    expect(req.model).toBe('p/m');
    expect(req.policy).toBe('quality');
  });

  it('needs exactly one of prompt and messages', () => {
    expect(paramOf(() => nativeRequest(dto({}), frame))).toBe('prompt');
    expect(paramOf(() => nativeRequest(dto({ prompt: 'a', messages: [{ role: 'user', content: 'b' }] }), frame))).toBe(
      'messages',
    );
  });
});

describe('generateResponse', () => {
  it('exposes the result fields of the native API', () => {
    const result = {
      requestId: 'req_2',
      id: 'c',
      created: 1,
      text: 't',
      finishReason: 'stop',
      provider: 'p',
      model: 'm',
      route: 'gateway',
      usage: { promptTokens: 1, completionTokens: 2, totalTokens: 3, cachedPromptTokens: 0 },
      costUsd: 0.5,
      latencyMs: 7,
      providerLatencyMs: 6,
      attempts: [{ provider: 'p', model: 'm', route: 'gateway', ok: true, latencyMs: 6, retries: 0 }],
    } satisfies GenerationResult;
    expect(generateResponse(result)).toEqual({
      requestId: 'req_2',
      text: 't',
      provider: 'p',
      model: 'm',
      finishReason: 'stop',
      usage: result.usage,
      costUsd: 0.5,
      latencyMs: 7,
      attempts: result.attempts,
      cached: false,
    });
  });

  const PROMPT = { input: 'prompt', systemPrompt: false } as const;
  const MESSAGES = { input: 'messages', systemPrompt: false } as const;

  it('names the native fields in errors that name their OpenAI spelling', () => {
    expect(nativeParam('stop', PROMPT)).toBe('options.stop');
    expect(nativeParam('top_p', MESSAGES)).toBe('options.topP');
    expect(nativeParam('max_tokens', MESSAGES)).toBe('options.maxTokens');
    expect(nativeParam('messages', PROMPT)).toBe('prompt');
    expect(nativeParam('messages', MESSAGES)).toBe('messages');
    expect(nativeParam('model', PROMPT)).toBe('model');
    expect(nativeParam(null, PROMPT)).toBeNull();
    const err = new GatewayError(ErrorCode.UnsupportedParameter, 'no', { param: 'temperature' });
    const renamed = withNativeParam(err, PROMPT) as GatewayError;
    expect(renamed.toBody()).toEqual({ ...err.toBody(), param: 'options.temperature' });
    const plain = new GatewayError(ErrorCode.InvalidRequest, 'no', { param: 'model' });
    expect(withNativeParam(plain, PROMPT)).toBe(plain);
  });

  it.each([
    // [provider param, body sent, native param]
    ['messages[0].content', { input: 'prompt', systemPrompt: false }, 'prompt'],
    ['messages[0].content', { input: 'prompt', systemPrompt: true }, 'systemPrompt'],
    ['messages[1].content', { input: 'prompt', systemPrompt: true }, 'prompt'],
    [
      'messages[2].content[0].image_url.url',
      { input: 'messages', systemPrompt: false },
      'messages[2].content[0].image_url.url',
    ],
    ['messages[2].content', { input: 'messages', systemPrompt: true }, 'messages[1].content'],
    ['messages[0]', { input: 'messages', systemPrompt: true }, 'systemPrompt'],
    ['messages.3.content', { input: 'messages', systemPrompt: true }, 'messages[2].content'],
    ['messages_extra', { input: 'messages', systemPrompt: true }, 'messages_extra'],
  ] as const)('a message named by index, %s, is the body field it came from', (param, shape, native) => {
    expect(nativeParam(param, shape)).toBe(native);
  });
});
