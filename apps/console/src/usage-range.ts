/** The Usage screen's date range and its chart's days: pure, so the clock is an argument. */

import { isoDay } from './format';

const DAY_MS = 86_400_000;

/**
 * What the user chose: the last `days` UTC days up to today (Today is 1), which moves with the clock, or dates
 * picked in the fields, which stay as they are.
 */
export type RangeChoice = { kind: 'last'; days: number } | { kind: 'custom'; from: string; to: string };

/** `YYYY-MM-DD` UTC days, both included. */
export interface DayRange {
  from: string;
  to: string;
}

/** The days a choice covers at `now`: a relative range is worked out again at each refresh, past midnight too. */
export function resolveRange(choice: RangeChoice, now: number): DayRange {
  if (choice.kind === 'custom') {
    return { from: choice.from, to: choice.to };
  }
  return { from: isoDay(new Date(now - (choice.days - 1) * DAY_MS)), to: isoDay(new Date(now)) };
}

/** Identifies a choice for a load's dependencies: a relative one by its length, not by the dates it has now. */
export function rangeKey(choice: RangeChoice): string {
  return choice.kind === 'custom' ? `${choice.from}/${choice.to}` : `last ${choice.days}`;
}

/**
 * The longest range, in days, that each API the Usage screen reads answers: the caller's own usage
 * (`GET /api/v1/ai/usage`, MAX_RANGE_DAYS of the gateway's usage.service) and the admin analytics (`/admin/usage`,
 * `/admin/costs`: MAX_RANGE_DAYS of analytics.service). A longer range is refused with a 400.
 */
export const OWN_USAGE_MAX_DAYS = 366;
export const ANALYTICS_MAX_DAYS = 400;

/**
 * Why an API reading `r` (at most `maxDays` days) would refuse it, in the terms of the screen's fields; null when it
 * takes it. Checked before fetching: the API's own 400 names its query parameter ('to'), not the field the user set,
 * and a Retry of the same range could never succeed.
 */
export function rangeProblem(r: DayRange, maxDays: number): string | null {
  const days = (Date.parse(`${r.to}T00:00:00Z`) - Date.parse(`${r.from}T00:00:00Z`)) / DAY_MS + 1;
  if (!Number.isFinite(days)) {
    return 'From and To must be dates from the year 0000 to 9999.';
  }
  if (days < 1) {
    return 'From is after To: pick a From on or before To.';
  }
  if (days > maxDays) {
    return `A range covers at most ${maxDays} days, and this one has ${days}: pick a later From or an earlier To.`;
  }
  return null;
}

/** The API's range: from the first day's start to the end of the last day (UTC). */
export function apiRange(r: DayRange): { from: string; to: string } {
  return { from: `${r.from}T00:00:00.000Z`, to: new Date(Date.parse(`${r.to}T00:00:00.000Z`) + DAY_MS).toISOString() };
}

export interface Day {
  /** The full `YYYY-MM-DD`: unique in any range, for keys and lookups. */
  day: string;
  /** `MM-DD`, or the full date when the range spans years (where `02-29`, or any day a year apart, would repeat). */
  label: string;
}

/** Each UTC day of the range, oldest first. */
export function daysOf(r: DayRange): Day[] {
  const withYear = r.from.slice(0, 4) !== r.to.slice(0, 4);
  const days: Day[] = [];
  for (let t = Date.parse(`${r.from}T00:00:00Z`); t <= Date.parse(`${r.to}T00:00:00Z`); t += DAY_MS) {
    const day = isoDay(new Date(t));
    days.push({ day, label: withYear ? day : day.slice(5) });
  }
  return days;
}
