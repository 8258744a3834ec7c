import { DEFAULT_SIMULATOR_CONFIG, SimulatorConfigError, validateSimulatorPatch } from './config';

describe('validateSimulatorPatch', () => {
  it('accepts the defaults and returns a copy', () => {
    const patch = validateSimulatorPatch({ ...DEFAULT_SIMULATOR_CONFIG });
    expect(patch).toEqual(DEFAULT_SIMULATOR_CONFIG);
    expect(patch.models).not.toBe(DEFAULT_SIMULATOR_CONFIG.models);
  });

  it.each([
    ['latencyMs', -1],
    ['latencyMs', Number.NaN],
    ['latencyMs', '10'],
    ['completionTokens', 1.5],
    ['failRate', 1.01],
    ['failStatus', []],
    ['failStatus', [200]],
    ['retryAfterS', 1.5],
    ['failMode', 'explode'],
    ['failNext', -2],
    ['requireAuth', 'yes'],
    ['models', ['']],
    ['cachedTokens', Number.POSITIVE_INFINITY],
    ['rateLimit', { requests: { limit: 10, remaining: 'x', resetMs: 0 }, tokens: null }],
    ['rateLimit', { requests: { limit: 10, remaining: 1 }, tokens: null }],
    ['rateLimit', { requests: null, tokens: null, minutes: 1 }],
    ['rateLimit', 'lots'],
    ['errorHeaders', { 'X-Should-Retry': 'false' }],
    ['errorHeaders', { 'retry-after': 3 }],
    ['errorHeaders', { 'retry-after': '3\r\nset-cookie: x' }],
    ['errorHeaders', ['x-should-retry']],
  ])('rejects %s = %p naming the field', (field, value) => {
    expect(() => validateSimulatorPatch({ [field]: value })).toThrow(
      expect.objectContaining({ name: 'SimulatorConfigError', field }) as Error,
    );
  });

  it('accepts extra error headers', () => {
    const errorHeaders = { 'x-should-retry': 'false', 'retry-after-ms': '250' };
    expect(validateSimulatorPatch({ errorHeaders })).toEqual({ errorHeaders });
  });

  it('accepts rate limits (a window may be null or left out) and copies them', () => {
    const rateLimit = { requests: { limit: 60, remaining: 0, resetMs: 2000 }, tokens: null };
    const patch = validateSimulatorPatch({ rateLimit });
    expect(patch).toEqual({ rateLimit });
    expect(patch.rateLimit).not.toBe(rateLimit);
    expect(validateSimulatorPatch({ rateLimit: { tokens: { limit: 1, remaining: 1, resetMs: 1 } } })).toBeDefined();
    expect(validateSimulatorPatch({ rateLimit: null })).toEqual({ rateLimit: null });
  });

  it('rejects unknown keys so typos fail loudly', () => {
    expect(() => validateSimulatorPatch({ latency: 5 })).toThrow(SimulatorConfigError);
  });

  it('rejects non-objects', () => {
    expect(() => validateSimulatorPatch([1])).toThrow(/must be a JSON object/);
    expect(() => validateSimulatorPatch(null)).toThrow(/must be a JSON object/);
  });

  it('accepts a null Retry-After and the edge values', () => {
    expect(validateSimulatorPatch({ retryAfterS: null, failRate: 1, failStatus: [429, 529] })).toEqual({
      retryAfterS: null,
      failRate: 1,
      failStatus: [429, 529],
    });
  });
});
