/** A chart's value axis: pure, for a unit test. */

/**
 * The top of a value axis, whose ticks are 0, half of it and it: `v` rounded up to 1, 2 or 5 times a power of ten.
 * `whole`: the values are counts (requests, tokens), whose ticks must be whole numbers too: up to 10 the top is the
 * next even number (half of 1 or 5 would be a tick of "0.5" or "2.5" requests); past it, halves of 20, 50, 100… are.
 */
export function axisMax(v: number, whole = false): number {
  if (!(v > 0)) {
    return whole ? 2 : 1;
  }
  if (whole && v <= 10) {
    return Math.max(2, Math.ceil(v / 2) * 2);
  }
  const p = 10 ** Math.floor(Math.log10(v));
  const f = v / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}
