import { DAY_MS, floorTo } from '../time';

/** How many full UTC days before today the recent daily rate averages. */
export const PROJECTION_RATE_DAYS = 7;

/** The periods a month-end projection at `now` reads: the month so far and the last full days before today. */
export function projectionWindows(now: Date): {
  monthStart: Date;
  monthEnd: Date;
  rateFrom: Date;
  rateTo: Date;
} {
  const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const monthEnd = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
  const rateTo = new Date(floorTo(now.getTime(), DAY_MS));
  const rateFrom = new Date(rateTo.getTime() - PROJECTION_RATE_DAYS * DAY_MS);
  return { monthStart, monthEnd, rateFrom, rateTo };
}

/**
 * Month-end spend: what the month cost so far plus the recent daily rate (the average of the last
 * PROJECTION_RATE_DAYS full UTC days) for the time left until the month ends, counted in fractional days.
 */
export function projectMonthEnd(
  now: Date,
  monthToDateUsd: number,
  recentDaysUsd: number,
): { monthEndUsd: number; dailyRateUsd: number; monthToDateUsd: number; daysLeft: number } {
  const { monthEnd } = projectionWindows(now);
  const dailyRateUsd = recentDaysUsd / PROJECTION_RATE_DAYS;
  const daysLeft = Math.max(0, (monthEnd.getTime() - now.getTime()) / DAY_MS);
  return {
    monthEndUsd: roundUsd(monthToDateUsd + dailyRateUsd * daysLeft),
    dailyRateUsd: roundUsd(dailyRateUsd),
    monthToDateUsd: roundUsd(monthToDateUsd),
    daysLeft: Math.round(daysLeft * 1e6) / 1e6,
  };
}

/** USD to the precision usage_records stores (numeric(18,9)). */
export function roundUsd(v: number): number {
  return Math.round(v * 1e9) / 1e9;
}
