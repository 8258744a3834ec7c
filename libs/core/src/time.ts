/**
 * Units of time in milliseconds, and rounding an epoch time (ms) to whole units of them. Epoch time counts no leap
 * seconds and starts at a UTC midnight, so whole hours and days from it are UTC hours and days: `floorTo(t, DAY_MS)`
 * is the start of t's UTC day, whatever the process's time zone.
 */
export const MINUTE_MS = 60_000;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;

/** The longest delay a Node timer keeps (2^31 − 1 ms, ~24.8 days): a longer one, or NaN, fires after 1 ms. */
export const MAX_TIMER_MS = 2_147_483_647;

/** The start of the `unit` holding `t`. */
export function floorTo(t: number, unit: number): number {
  return Math.floor(t / unit) * unit;
}

/** `t` itself when it starts a `unit`, else the start of the next one. */
export function ceilTo(t: number, unit: number): number {
  return Math.ceil(t / unit) * unit;
}
