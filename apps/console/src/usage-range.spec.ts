import { apiRange, daysOf, rangeKey, rangeProblem, resolveRange } from './usage-range';

describe('usage range', () => {
  const before = Date.parse('2026-03-01T23:59:50Z');
  const after = Date.parse('2026-03-02T00:00:10Z');

  it('a relative range rolls with the clock: past midnight UTC it covers the new day', () => {
    expect(resolveRange({ kind: 'last', days: 7 }, before)).toEqual({ from: '2026-02-23', to: '2026-03-01' });
    expect(resolveRange({ kind: 'last', days: 7 }, after)).toEqual({ from: '2026-02-24', to: '2026-03-02' });
    expect(resolveRange({ kind: 'last', days: 1 }, after)).toEqual({ from: '2026-03-02', to: '2026-03-02' });
    expect(apiRange(resolveRange({ kind: 'last', days: 1 }, after))).toEqual({
      from: '2026-03-02T00:00:00.000Z',
      to: '2026-03-03T00:00:00.000Z',
    });
    // Its identity does not change with the day (a new day is a refresh, not a new screen state).
    expect(rangeKey({ kind: 'last', days: 7 })).toBe('last 7');
  });

  it('a custom range stays what was picked', () => {
    const custom = { kind: 'custom', from: '2026-02-01', to: '2026-02-10' } as const;
    expect(resolveRange(custom, before)).toEqual({ from: '2026-02-01', to: '2026-02-10' });
    expect(resolveRange(custom, after)).toEqual({ from: '2026-02-01', to: '2026-02-10' });
  });

  it('days of a range within a year read month-day', () => {
    const days = daysOf({ from: '2026-02-27', to: '2026-03-01' });
    expect(days.map((d) => d.label)).toEqual(['02-27', '02-28', '03-01']);
    expect(days.map((d) => d.day)).toEqual(['2026-02-27', '2026-02-28', '2026-03-01']);
  });

  it('366 days across years: every label and key is unique, with the year', () => {
    const days = daysOf({ from: '2023-03-01', to: '2024-02-29' });
    expect(days).toHaveLength(366);
    expect(new Set(days.map((d) => d.label)).size).toBe(366);
    expect(new Set(days.map((d) => d.day)).size).toBe(366);
    expect(days[0]).toEqual({ day: '2023-03-01', label: '2023-03-01' });
    expect(days[365]).toEqual({ day: '2024-02-29', label: '2024-02-29' });
    // 2024-02-28 .. 2025-02-28: month-day alone would say 02-28 twice.
    const leap = daysOf({ from: '2024-02-28', to: '2025-02-28' });
    expect(new Set(leap.map((d) => d.label)).size).toBe(leap.length);
  });

  it('a range is refused before it is asked for when it is reversed or longer than its API takes', () => {
    // 2024 is a leap year: 2024-01-01..2024-12-31 is 366 days.
    expect(rangeProblem({ from: '2024-01-01', to: '2024-12-31' }, 366)).toBeNull();
    expect(rangeProblem({ from: '2023-12-31', to: '2024-12-31' }, 366)).toBe(
      'A range covers at most 366 days, and this one has 367: pick a later From or an earlier To.',
    );
    expect(rangeProblem({ from: '2023-12-31', to: '2024-12-31' }, 400)).toBeNull();
    expect(rangeProblem({ from: '2026-03-02', to: '2026-03-02' }, 366)).toBeNull();
    expect(rangeProblem({ from: '2026-03-02', to: '2026-03-01' }, 366)).toBe(
      'From is after To: pick a From on or before To.',
    );
    // A year the API cannot read (a date field takes six digits).
    expect(rangeProblem({ from: '2026-03-02', to: '275760-01-01' }, 366)).toMatch(/^From and To must be dates/);
  });
});
