import { DEFAULT_SIMULATOR_CONFIG, type SimulatorConfig } from './config';
import { drawFault, wantsRetryAfter } from './faults';

const config = (patch: Partial<SimulatorConfig>): SimulatorConfig => ({
  ...DEFAULT_SIMULATOR_CONFIG,
  failStatus: [503],
  models: ['sim-x'],
  ...patch,
});

describe('drawFault', () => {
  it('never fails with the defaults', () => {
    const cfg = config({});
    expect(drawFault(cfg, () => 0)).toBeNull();
  });

  it('consumes failNext before consulting failRate', () => {
    const cfg = config({ failNext: 2, failStatus: [429] });
    const never = (): number => 0.999;
    expect(drawFault(cfg, never)).toEqual({ kind: 'status', status: 429 });
    expect(cfg.failNext).toBe(1);
    expect(drawFault(cfg, never)).toEqual({ kind: 'status', status: 429 });
    expect(cfg.failNext).toBe(0);
    expect(drawFault(cfg, never)).toBeNull();
  });

  it('fails when the random draw is below failRate', () => {
    const cfg = config({ failRate: 0.3 });
    expect(drawFault(cfg, () => 0.29)).not.toBeNull();
    expect(drawFault(cfg, () => 0.3)).toBeNull();
  });

  it('picks the status from failStatus', () => {
    const cfg = config({ failNext: 2, failStatus: [429, 503] });
    expect(drawFault(cfg, () => 0)).toEqual({ kind: 'status', status: 429 });
    expect(drawFault(cfg, () => 0.99)).toEqual({ kind: 'status', status: 503 });
  });

  it.each([
    ['malformed', { kind: 'malformed', afterChunks: 4 }],
    ['drop', { kind: 'drop' }],
    ['hang', { kind: 'hang' }],
    ['drop_mid_stream', { kind: 'drop_mid_stream', afterChunks: 4 }],
    ['error_mid_stream', { kind: 'error_mid_stream', afterChunks: 4, status: 503 }],
  ] as const)('builds the %s fault', (failMode, expected) => {
    expect(drawFault(config({ failNext: 1, failMode, failAfterChunks: 4 }))).toEqual(expected);
  });
});

describe('wantsRetryAfter', () => {
  it('is true for rate limiting and overload only', () => {
    expect([429, 503, 529].every(wantsRetryAfter)).toBe(true);
    expect([400, 401, 500, 502].some(wantsRetryAfter)).toBe(false);
  });
});
