import { projectMonthEnd, projectionWindows } from './month-projection';

describe('month-end projection', () => {
  it('reads the month so far and the 7 full days before today (UTC)', () => {
    const w = projectionWindows(new Date('2026-11-10T18:00:00Z'));
    expect(w).toEqual({
      monthStart: new Date('2026-11-01T00:00:00Z'),
      monthEnd: new Date('2026-12-01T00:00:00Z'),
      rateFrom: new Date('2026-11-03T00:00:00Z'),
      rateTo: new Date('2026-11-10T00:00:00Z'),
    });
  });

  it('adds the daily rate times the days left to the month so far', () => {
    // 20 days and 6 hours left in November at 2026-11-10T18:00Z; $14 over 7 days is $2 a day.
    expect(projectMonthEnd(new Date('2026-11-10T18:00:00Z'), 30, 14)).toEqual({
      monthEndUsd: 30 + 2 * 20.25,
      dailyRateUsd: 2,
      monthToDateUsd: 30,
      daysLeft: 20.25,
    });
  });

  it('crosses a year end and projects nothing past the month', () => {
    const w = projectionWindows(new Date('2026-12-31T23:00:00Z'));
    expect(w.monthEnd).toEqual(new Date('2027-01-01T00:00:00Z'));
    expect(projectMonthEnd(new Date('2026-12-31T23:00:00Z'), 5, 0).monthEndUsd).toBe(5);
  });
});
