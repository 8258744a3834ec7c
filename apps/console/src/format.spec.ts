import {
  formatAxisTick,
  formatBytes,
  formatCount,
  formatKeyState,
  formatMs,
  formatPercent,
  formatQuotaWindow,
  formatUsd,
  healthColour,
} from './format';

describe('console formats', () => {
  it('shows a size in the unit its rounded value reads in: never "1024.0 kB", GB past a thousand MB', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.5 kB');
    // Rounded before the unit is chosen: 1023.96 kB is "1.0 MB", not "1024.0 kB".
    expect(formatBytes(1048575)).toBe('1.0 MB');
    expect(formatBytes(1048576)).toBe('1.0 MB');
    // A cache's Redis may hold gigabytes.
    expect(formatBytes(5 * 1024 ** 3)).toBe('5.0 GB');
    expect(formatBytes(3 * 1024 ** 4)).toBe('3.0 TB');
    expect(formatBytes(5000 * 1024 ** 4)).toBe('5000.0 TB');
    // A statistics answer without it (an older gateway): no "undefined B".
    expect(formatBytes(undefined)).toBe('—');
    expect(formatBytes(Number.NaN)).toBe('—');
  });

  it('shows fractions of a cent with enough digits and no trailing zeros', () => {
    expect(formatUsd(0)).toBe('$0');
    expect(formatUsd(12.5)).toBe('$12.5');
    expect(formatUsd(1234.567)).toBe('$1,234.57');
    expect(formatUsd(1234567)).toBe('$1,234,567');
    expect(formatUsd(999.999)).toBe('$1,000');
    expect(formatUsd(-2500.5)).toBe('-$2,500.5');
    expect(formatUsd(0.0375)).toBe('$0.0375');
    expect(formatUsd(0.000015)).toBe('$0.000015');
    expect(formatUsd(0.000001)).toBe('$0.000001');
    // Not zero, but below what six digits show: never '$0.000000', which reads as free.
    expect(formatUsd(0.0000004)).toBe('<$0.000001');
    expect(formatUsd(0.00000000001)).toBe('<$0.000001');
    expect(formatUsd(0.0000009999)).toBe('$0.000001');
    // One token at $0.0005 per 1k: 5e-7 as a double is a hair under half a millionth, which six digits round to 0.
    expect(formatUsd(0.0005 / 1000)).toBe('<$0.000001');
    expect(formatUsd(0.0000005)).toBe('<$0.000001');
    expect(formatUsd(-0.0000005)).toBe('-<$0.000001');
    expect(formatUsd(null)).toBe('—');
    expect(formatUsd(Number.NaN)).toBe('—');
  });

  it('counts: no "-0" for a value that rounds to zero', () => {
    expect(formatCount(1_234_567_890)).toBe('1,234,567,890');
    expect(formatCount(-0.4)).toBe('0');
    expect(formatCount(0)).toBe('0');
  });

  it('percentages from ratios, durations in ms or s', () => {
    expect(formatPercent(0.5)).toBe('50%');
    expect(formatPercent(0.9876)).toBe('98.8%');
    expect(formatPercent(undefined)).toBe('—');
    expect(formatMs(12.4)).toBe('12 ms');
    expect(formatMs(1500)).toBe('1.5 s');
    expect(formatMs(2000)).toBe('2 s');
    // Rounded before the unit is chosen: never "1000 ms".
    expect(formatMs(999.4)).toBe('999 ms');
    expect(formatMs(999.6)).toBe('1 s');
  });

  it("a cache's hit rate as the API gives it: no data ('—') before any lookup (hitRate null), not 0%", () => {
    expect(formatPercent(null)).toBe('—');
    expect(formatPercent(undefined)).toBe('—');
    expect(formatPercent(0)).toBe('0%');
    expect(formatPercent(1 / 4)).toBe('25%');
    expect(formatPercent(2 / 2)).toBe('100%');
  });

  it('a rate that is not perfect never reads 100%, nor one above nothing 0%', () => {
    expect(formatPercent(0.99999)).toBe('>99.9%');
    expect(formatPercent(0.99951)).toBe('>99.9%');
    expect(formatPercent(0.9994)).toBe('99.9%');
    expect(formatPercent(0.00001)).toBe('<0.1%');
    expect(formatPercent(0.0004)).toBe('<0.1%');
    expect(formatPercent(0.00051)).toBe('0.1%');
    expect(formatPercent(0.999999, 0)).toBe('>99%');
    expect(formatPercent(0.000001, 2)).toBe('<0.01%');
    expect(formatPercent(1)).toBe('100%');
    expect(formatPercent(0)).toBe('0%');
  });

  it('rate-limit windows: what is left of how much, when it resets, or that it has reset since', () => {
    const w = { limit: 60, remaining: 42, resetAt: '2026-03-01T12:00:30.000Z', stale: false };
    expect(formatQuotaWindow(w, 'requests')).toBe('42 / 60 requests left, resets 2026-03-01 12:00:30 UTC');
    expect(formatQuotaWindow({ ...w, stale: true }, 'requests')).toBe('42 / 60 requests left (reset since)');
    expect(formatQuotaWindow({ ...w, limit: null, resetAt: null }, 'tokens')).toBe('42 tokens left');
    expect(formatQuotaWindow(null, 'tokens')).toBeNull();
  });

  it("a key's state: revoked, expired once its expiry has passed, else expiring or active", () => {
    const now = Date.parse('2026-03-01T12:00:00Z');
    const k = { revokedAt: null, expiresAt: null };
    expect(formatKeyState(k, now)).toBe('active');
    expect(formatKeyState({ ...k, expiresAt: '2026-03-02T00:00:00Z' }, now)).toBe('expires 2026-03-02 00:00:00 UTC');
    expect(formatKeyState({ ...k, expiresAt: '2026-02-28T00:00:00Z' }, now)).toBe('expired 2026-02-28 00:00:00 UTC');
    expect(formatKeyState({ ...k, expiresAt: '2026-03-01T12:00:00Z' }, now)).toMatch(/^expired /);
    expect(formatKeyState({ revokedAt: '2026-02-01T00:00:00Z', expiresAt: '2026-02-28T00:00:00Z' }, now)).toBe(
      'revoked 2026-02-01 00:00:00 UTC',
    );
  });

  it('maps health and circuit states to the traffic light', () => {
    expect(healthColour('healthy')).toBe('green');
    expect(healthColour('degraded')).toBe('yellow');
    expect(healthColour('failing')).toBe('red');
    expect(healthColour('unknown')).toBe('grey');
    expect(healthColour(undefined)).toBe('grey');
  });
});

describe('chart axis ticks', () => {
  it('large token counts in thousands, millions and billions, never "1500k"', () => {
    expect(formatAxisTick(0)).toBe('0');
    expect(formatAxisTick(250)).toBe('250');
    expect(formatAxisTick(2500)).toBe('2.5k');
    expect(formatAxisTick(1_500_000)).toBe('1.5M');
    expect(formatAxisTick(50_000_000)).toBe('50M');
    expect(formatAxisTick(2_500_000_000)).toBe('2.5B');
  });

  it('costs with a dollar sign, fractions of a cent in plain digits, never in exponent notation', () => {
    expect(formatAxisTick(0, 'usd')).toBe('$0');
    expect(formatAxisTick(0.00025, 'usd')).toBe('$0.00025');
    expect(formatAxisTick(0.0000005, 'usd')).toBe('$0.0000005');
    expect(formatAxisTick(0.00000025, 'usd')).toBe('$0.00000025');
    expect(formatAxisTick(1500, 'usd')).toBe('$1.5k');
    expect(formatAxisTick(-2.5, 'usd')).toBe('-$2.5');
  });
});
