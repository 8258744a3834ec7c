import { ceilTo, DAY_MS, floorTo, HOUR_MS, MINUTE_MS } from './time';

describe('time units', () => {
  it('are the usual durations', () => {
    expect([MINUTE_MS, HOUR_MS, DAY_MS]).toEqual([60_000, 3_600_000, 86_400_000]);
  });

  it('round to the UTC hour and day, as Date.UTC counts them', () => {
    const t = Date.UTC(2026, 11, 6, 8, 38, 14, 123);
    expect(floorTo(t, HOUR_MS)).toBe(Date.UTC(2026, 11, 6, 8));
    expect(ceilTo(t, HOUR_MS)).toBe(Date.UTC(2026, 11, 6, 9));
    expect(floorTo(t, DAY_MS)).toBe(Date.UTC(2026, 11, 6));
    expect(ceilTo(t, DAY_MS)).toBe(Date.UTC(2026, 11, 7));
    // A whole unit stays where it is; before the epoch too.
    expect([floorTo(Date.UTC(2026, 11, 6), DAY_MS), ceilTo(Date.UTC(2026, 11, 6), DAY_MS)]).toEqual([
      Date.UTC(2026, 11, 6),
      Date.UTC(2026, 11, 6),
    ]);
    expect(floorTo(Date.UTC(1969, 11, 31, 13), DAY_MS)).toBe(Date.UTC(1969, 11, 31));
  });
});
