import { geminiSchema } from './gemini-mapping';

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
        $defs: { strict: { type: 'integer', additionalProperties: false } },
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
      $defs: { strict: { type: 'integer' } },
      anyOf: [{ type: 'object' }],
    });
  });
});
