import { jsonAnswer, jsonPieces, toolCallAnswer, valueFor } from './behaviours';

describe('simulator behaviours', () => {
  it('builds a value conforming to a simple schema from the prompt', () => {
    const schema = {
      type: 'object',
      properties: {
        city: { type: 'string' },
        days: { type: 'integer' },
        metric: { type: 'boolean' },
        unit: { type: 'string', enum: ['C', 'F'] },
        tags: { type: 'array', items: { type: 'string' } },
        nested: { properties: { n: { type: 'number' } } },
      },
      required: ['city'],
    };
    expect(valueFor(schema, 'Oslo')).toEqual({
      city: 'Oslo',
      days: 4,
      metric: true,
      unit: 'C',
      tags: ['Oslo'],
      nested: { n: 4 },
    });
  });

  it('splits tool arguments into pieces that join back to valid JSON', () => {
    const call = toolCallAnswer(
      'call_1',
      { name: 'f', parameters: { type: 'object', properties: { q: { type: 'string' } } } },
      'hello world',
    );
    expect(call.pieces.length).toBeGreaterThan(1);
    expect(JSON.parse(call.pieces.text)).toEqual({ q: 'hello world' });
    expect(jsonPieces('').text).toBe('{}');
  });

  it('answers JSON mode with an object', () => {
    expect(JSON.parse(jsonAnswer(null, 'hi there').text)).toEqual({ answer: 'hi there' });
  });
});
