import { axisMax } from './axis';

/** The chart's three ticks: 0, half the top, the top. */
const ticks = (max: number) => [0, max / 2, max];

describe('chart axis', () => {
  it('rounds the top up to 1, 2 or 5 times a power of ten', () => {
    expect(axisMax(0)).toBe(1);
    expect(axisMax(0.0003)).toBe(0.0005);
    expect(axisMax(1.2)).toBe(2);
    expect(axisMax(7)).toBe(10);
    expect(axisMax(120)).toBe(200);
    expect(axisMax(2000)).toBe(2000);
  });

  it('gives a count axis whole ticks: never "0.5" requests nor "2.5" tokens', () => {
    for (const v of [0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 17, 42, 99, 101, 4999, 123_456]) {
      const max = axisMax(v, true);
      expect(max).toBeGreaterThanOrEqual(v);
      for (const t of ticks(max)) {
        expect(Number.isInteger(t)).toBe(true);
      }
    }
    // Still close to the data: a day of 1 request is not drawn against a top of 10.
    expect(axisMax(1, true)).toBe(2);
    expect(axisMax(5, true)).toBe(6);
    expect(axisMax(0, true)).toBe(2);
  });
});
