/*
 * The instants a query names (`from`, `to`), read without the process's time zone: the gateway answers the same
 * range whatever TZ its host runs in. No imports, so a test can load this file into a process with another TZ.
 */

/**
 * An ISO 8601 calendar date (`2026-12-05`, `2026-12`, `2026`) or date-time (`2026-12-05T11:00`, `…:00`, `…:00.123`,
 * `T` or one space) with an optional zone (`Z`, `±hh`, `±hhmm`, `±hh:mm`).
 */
const INSTANT =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?)?)?$/;

/** The same rule for the OpenAPI document. */
export const INSTANT_PATTERN = INSTANT.source;

export const INSTANT_RULE =
  'an ISO 8601 date (2026-12-05) or date-time (2026-12-05T11:00:00Z); a date or a date-time without a zone is UTC';

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysIn(year: number, month: number): number {
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1];
}

/**
 * The instant `text` names; null when it is no date or date-time of INSTANT_RULE or names a day or time that does
 * not exist (`2026-02-30`, `25:00`). Without a zone it is UTC, as README promises for every range: `new Date()`
 * would read a zone-less date-time in local time (and some ISO 8601 forms not at all).
 */
export function instantOf(text: string): Date | null {
  const m = INSTANT.exec(text);
  if (m === null) {
    return null;
  }
  const year = Number(m[1]);
  const month = Number(m[2] ?? 1);
  const day = Number(m[3] ?? 1);
  const hour = Number(m[4] ?? 0);
  const minute = Number(m[5] ?? 0);
  const second = Number(m[6] ?? 0);
  const ms = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3));
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || second > 59) {
    return null;
  }
  let offsetMinutes = 0;
  const zone = m[8];
  if (zone !== undefined && zone !== 'Z') {
    const hours = Number(zone.slice(1, 3));
    const minutes = zone.length === 3 ? 0 : Number(zone.slice(-2));
    if (hours > 23 || minutes > 59) {
      return null;
    }
    offsetMinutes = (zone[0] === '-' ? -1 : 1) * (hours * 60 + minutes);
  }
  // setUTCFullYear, not Date.UTC: Date.UTC reads a year below 100 as 19xx.
  const at = new Date(0);
  at.setUTCFullYear(year, month - 1, day);
  at.setUTCHours(hour, minute - offsetMinutes, second, ms);
  return at;
}
