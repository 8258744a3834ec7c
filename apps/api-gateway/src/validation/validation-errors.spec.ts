import 'reflect-metadata';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { ErrorCode } from '@aigw/core';
import { GenerateDto } from '../native/generate.dto';
import { ChatCompletionDto } from '../openai/chat-completion.dto';
import { firstProblem, validationFailure } from './validation-errors';
import { REQUEST_VALIDATION_OPTIONS } from './validation-pipe';

function problem(cls: new () => object, body: Record<string, unknown>): { param: string; message: string } | null {
  // As the gateway's pipe validates.
  return firstProblem(validateSync(plainToInstance(cls, body), REQUEST_VALIDATION_OPTIONS));
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

  it("names a field's wrong type before the failures that follow from it", () => {
    const messages = { param: 'messages', message: 'messages must be an array' };
    expect(problem(ChatCompletionDto, { model: 'm', messages: 'nope' })).toEqual(messages);
    expect(problem(ChatCompletionDto, { model: 'm', messages: 5 })).toEqual(messages);
    expect(problem(ChatCompletionDto, { model: 'm', messages: {} })).toEqual(messages);
    expect(problem(ChatCompletionDto, { model: 'm' })).toEqual(messages);
    expect(problem(ChatCompletionDto, { model: 'm', messages: [] })).toEqual({
      param: 'messages',
      message: 'messages should not be empty',
    });
    expect(problem(ChatCompletionDto, { ...ok, model: 5 })?.message).toBe('model must be a string');
    expect(problem(ChatCompletionDto, { ...ok, model: '' })?.message).toBe('model should not be empty');
    expect(problem(ChatCompletionDto, { ...ok, temperature: 'hot' })?.message).toMatch(/^temperature must be a number/);
    expect(problem(ChatCompletionDto, { ...ok, temperature: 3 })?.message).toBe(
      'temperature must not be greater than 2',
    );
    expect(problem(GenerateDto, { messages: 'nope' })?.message).toBe('messages must be an array');
  });

  it('builds a 400 invalid_request naming the field', () => {
    const errors = validateSync(plainToInstance(ChatCompletionDto, { ...ok, n: 2 }));
    const err = validationFailure(errors);
    expect(err.code).toBe(ErrorCode.InvalidRequest);
    expect(err.param).toBe('n');
    expect(err.message).toContain("'n'");
  });
});
