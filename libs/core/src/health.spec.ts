import { alertKindOf, detectCapabilities, healthGaugeValue } from './health';

describe('health', () => {
  it('alerts on turning failing and on recovering, never in between', () => {
    expect(alertKindOf('healthy', 'failing')).toBe('failing');
    expect(alertKindOf('unknown', 'failing')).toBe('failing');
    expect(alertKindOf('failing', 'failing')).toBeNull();
    expect(alertKindOf('failing', 'degraded')).toBe('recovered');
    expect(alertKindOf('failing', 'healthy')).toBe('recovered');
    expect(alertKindOf('healthy', 'degraded')).toBeNull();
  });

  it('maps statuses to the gauge values the README documents', () => {
    expect(['unknown', 'healthy', 'degraded', 'failing'].map((s) => healthGaugeValue(s as never))).toEqual([
      0, 1, 2, 3,
    ]);
  });

  it('guesses capabilities from the model name within what the wire format carries', () => {
    expect(detectCapabilities('openai', 'text-embedding-3-small')).toEqual(['embeddings']);
    expect(detectCapabilities('anthropic', 'voyage-embed')).toEqual([]);
    expect(detectCapabilities('openai', 'gpt-4o-mini')).toEqual(['chat', 'streaming', 'tools', 'json', 'vision']);
    expect(detectCapabilities('openai', 'glm-4.6')).toEqual(['chat', 'streaming', 'tools', 'json']);
    expect(detectCapabilities('tgi', 'llava-next')).toEqual(['chat', 'streaming', 'json']);
    expect(detectCapabilities('anthropic', 'claude-sonnet-4-20250514')).toEqual([
      'chat',
      'streaming',
      'tools',
      'vision',
    ]);
  });
});
