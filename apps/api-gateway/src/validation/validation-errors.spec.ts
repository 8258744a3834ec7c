import 'reflect-metadata';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { ErrorCode } from '@aigw/core';
import { GenerateDto } from '../native/generate.dto';
import { ChatCompletionDto } from '../openai/chat-completion.dto';
import { firstProblem, validationFailure } from './validation-errors';

function problem(cls: new () => object, body: Record<string, unknown>): { param: string; message: string } | null {
  return firstProblem(validateSync(plainToInstance(cls, body), { stopAtFirstError: true }));
}

const ok = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };

describe('validation param naming', () => {
  it('accepts a valid body', () => {
    expect(problem(ChatCompletionDto, ok)).toBeNull();
    expect(problem(ChatCompletionDto, { ...ok, messages: [{ role: 'assistant', content: null }] })).toBeNull();
    expect(
      problem(ChatCompletionDto, {
        ...ok,
        messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:x' } }] }],
      }),
    ).toBeNull();
  });

  it('names nested fields OpenAI style', () => {
    expect(
      problem(ChatCompletionDto, { ...ok, messages: [{ role: 'user', content: 'a' }, { role: 'user' }] })?.param,
    ).toBe('messages[1].content');
    expect(problem(ChatCompletionDto, { ...ok, messages: [{ role: 'user', content: null }] })?.param).toBe(
      'messages[0].content',
    );
    expect(
      problem(ChatCompletionDto, { ...ok, messages: [{ role: 'user', content: [{ type: 'audio', data: 'x' }] }] })
        ?.param,
    ).toBe('messages[0].content');
    expect(problem(ChatCompletionDto, { ...ok, stream_options: { include_usage: 1 } })?.param).toBe(
      'stream_options.include_usage',
    );
    expect(problem(GenerateDto, { prompt: 'x', options: { topP: 3 } })?.param).toBe('options.topP');
  });

  it('reports fields in declaration order', () => {
    expect(problem(ChatCompletionDto, { messages: 'x', temperature: 'hot' })?.param).toBe('model');
    expect(problem(ChatCompletionDto, { ...ok, temperature: 'hot', n: 3 })?.param).toBe('temperature');
  });

  it('builds a 400 invalid_request naming the field', () => {
    const errors = validateSync(plainToInstance(ChatCompletionDto, { ...ok, n: 2 }));
    const err = validationFailure(errors);
    expect(err.code).toBe(ErrorCode.InvalidRequest);
    expect(err.param).toBe('n');
    expect(err.message).toContain("'n'");
  });
});
