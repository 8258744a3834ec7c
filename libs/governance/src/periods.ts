import { DAY_MS, floorTo, MINUTE_MS } from '@aigw/core';

/** Quota periods are UTC calendar days and months; rate-limit windows are fixed minutes. */

export interface Periods {
  /** Rate-limit window: minute number since the epoch. */
  window: number;
  /** When the current window ends (epoch ms). */
  windowEndsAt: number;
  /** `YYYYMMDD` and `YYYYMM` (UTC). */
  day: string;
  month: string;
  dayEndsAt: number;
  monthEndsAt: number;
}

export function periodsAt(now: number): Periods {
  const d = new Date(now);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  const pad = (n: number): string => String(n).padStart(2, '0');
  const window = Math.floor(now / MINUTE_MS);
  return {
    window,
    windowEndsAt: (window + 1) * MINUTE_MS,
    day: `${y}${pad(m + 1)}${pad(d.getUTCDate())}`,
    month: `${y}${pad(m + 1)}`,
    dayEndsAt: Date.UTC(y, m, d.getUTCDate() + 1),
    monthEndsAt: Date.UTC(y, m + 1, 1),
  };
}

/** Start of the UTC day and month holding `now`. */
export function periodStarts(now: number): { dayStart: number; monthStart: number } {
  const d = new Date(now);
  return {
    dayStart: floorTo(now, DAY_MS),
    monthStart: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1),
  };
}

/**
 * Spend is counted in integer nano-dollars in Redis: exact sums, no float drift across thousands of INCRBYs, and
 * the precision costs are rounded to (`costOf`, `usage_records.cost_usd` numeric(18,9)), so a request costing a
 * fraction of a micro-dollar (an embedding, a cheap model) counts what it cost, not a whole micro-dollar. Lua reads
 * the counters as doubles: exact up to 2^53 nano-dollars ($9 million) per user and month.
 */
export const NANOS_PER_USD = 1_000_000_000;

/** An amount of the cost's precision (a cost, a limit, a sum of usage_records) in nano-dollars, exactly. */
export function usdToNanos(usd: number): number {
  return Math.round(usd * NANOS_PER_USD);
}

/** Rounds up: a reservation must never be smaller than the cost it stands for. */
export function reservedNanos(usd: number): number {
  return Math.ceil(usd * NANOS_PER_USD);
}

export function nanosToUsd(nanos: number): number {
  return nanos / NANOS_PER_USD;
}
