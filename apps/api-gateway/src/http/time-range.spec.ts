import { DAY_MS, GatewayError } from '@aigw/core';
import { rangeOf, type RangeQuery } from './time-range';

const rules = { now: new Date('2026-12-05T12:00:00Z'), defaultMs: 30 * DAY_MS, maxDays: 366 };

function problem(q: RangeQuery): { param: unknown; message: string } {
  try {
    rangeOf(q, rules);
  } catch (err) {
    if (err instanceof GatewayError) {
      return { param: err.param, message: err.message };
    }
    throw err;
  }
  throw new Error('no error');
}

describe('rangeOf', () => {
  it('defaults to the last defaultMs up to now, and reads zone-less bounds as UTC', () => {
    expect(rangeOf({}, rules)).toEqual({ from: new Date('2026-11-05T12:00:00Z'), to: rules.now });
    expect(rangeOf({ from: '2026-12-01T11:00:00', to: '2026-12-05T11:00' }, rules)).toEqual({
      from: new Date('2026-12-01T11:00:00Z'),
      to: new Date('2026-12-05T11:00:00Z'),
    });
  });

  it('names from when it is not before to', () => {
    expect(problem({ from: '2026-12-05', to: '2026-12-05' }).param).toBe('from');
    expect(problem({ from: '2026-12-06' }).param).toBe('from');
  });

  it('names the field the client sent when the range is too long', () => {
    expect(problem({ from: '2024-01-01', to: '2026-01-01' }).param).toBe('to');
    const fromAlone = problem({ from: '2025-06-01' });
    expect(fromAlone.param).toBe('from');
    expect(fromAlone.message).toContain("'to' defaults to now");
  });

  it('names a bound it cannot read (the DTOs refuse it first)', () => {
    expect(problem({ to: '2026-W49-1' }).param).toBe('to');
  });
});
