import type { GenerationOptions } from '@aigw/core';
import type { AdapterTarget } from '../types';
import { geminiBody, geminiSchema } from './gemini-mapping';

describe('geminiSchema', () => {
  it('removes the keywords Gemini rejects at every depth, never a property or definition of that name', () => {
    expect(
      geminiSchema({
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        type: 'object',
        additionalProperties: false,
        properties: {
          strict: { type: 'boolean' },
          additionalProperties: { type: 'string', $comment: 'a field of the user' },
          nested: { type: 'object', strict: true, properties: { $id: { type: 'string' } } },
          mode: { type: 'string', enum: ['strict', 'loose'], default: 'strict' },
          options: { type: 'object', default: { strict: true, additionalProperties: 1 } },
        },
        required: ['strict', 'additionalProperties'],
        anyOf: [{ type: 'object', additionalProperties: false }],
      }),
    ).toEqual({
      type: 'object',
      properties: {
        strict: { type: 'boolean' },
        additionalProperties: { type: 'string' },
        nested: { type: 'object', properties: { $id: { type: 'string' } } },
        mode: { type: 'string', enum: ['strict', 'loose'], default: 'strict' },
        options: { type: 'object', default: { strict: true, additionalProperties: 1 } },
      },
      required: ['strict', 'additionalProperties'],
      anyOf: [{ type: 'object' }],
    });
  });
  it("inlines local references (Pydantic's nested models) and writes nullable types Gemini's way", () => {
    expect(
      geminiSchema({
        type: 'object',
        $defs: {
          City: { type: 'object', properties: { name: { type: 'string' } }, additionalProperties: false },
          Tree: { type: 'object', properties: { child: { $ref: '#/$defs/Tree' } } },
        },
        properties: {
          home: { $ref: '#/$defs/City', description: 'where they live' },
          visited: { type: 'array', items: { $ref: '#/$defs/City' } },
          nickname: { type: ['string', 'null'] },
          tree: { $ref: '#/$defs/Tree' },
        },
      }),
    ).toEqual({
      type: 'object',
      properties: {
        home: { type: 'object', properties: { name: { type: 'string' } }, description: 'where they live' },
        visited: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' } } } },
        nickname: { type: 'string', nullable: true },
        // A recursive reference cannot be inlined: it stays (Gemini refuses it, as it would have anyway).
        tree: { type: 'object', properties: { child: { $ref: '#/$defs/Tree' } } },
      },
    });
  });
});

describe('geminiBody thinking', () => {
  const target: AdapterTarget = {
    baseUrl: 'http://127.0.0.1:1/v1beta',
    model: 'gemini-2.5-flash',
    timeoutMs: 1000,
    poolKey: 'g',
  };
  const config = (options: GenerationOptions): unknown =>
    (
      JSON.parse(geminiBody({ target, messages: [{ role: 'user', content: 'U' }], options })) as {
        generationConfig: { thinkingConfig?: unknown };
      }
    ).generationConfig.thinkingConfig;

  it("takes adaptive thinking (`/v1/messages`) as Gemini's dynamic budget, an effort or a budget as a number", () => {
    expect(config({ reasoningEffort: 'medium', adaptiveThinking: true })).toEqual({
      thinkingBudget: -1,
      includeThoughts: true,
    });
    expect(config({ reasoningEffort: 'medium' })).toEqual({ thinkingBudget: 8192, includeThoughts: true });
    expect(config({ reasoningEffort: 'high', reasoningBudget: 3000 })).toEqual({
      thinkingBudget: 3000,
      includeThoughts: true,
    });
  });
});
