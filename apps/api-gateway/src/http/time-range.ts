import { DAY_MS } from '@aigw/core';
import { invalidParam } from '../validation/validation-errors';
import { INSTANT_RULE, instantOf } from './instant';

/** A query's `from` and `to`, as the DTOs checked them (INSTANT_RULE). */
export interface RangeQuery {
  from?: string;
  to?: string;
}

export interface TimeRange {
  from: Date;
  to: Date;
}

export interface RangeRules {
  now: Date;
  /** `from` when the query has none: this long before `to`. */
  defaultMs: number;
  maxDays: number;
}

function instant(q: RangeQuery, param: 'from' | 'to'): Date | undefined {
  const text = q[param];
  if (text === undefined) {
    return undefined;
  }
  const at = instantOf(text);
  if (at === null) {
    throw invalidParam(param, `${param} must be ${INSTANT_RULE}`);
  }
  return at;
}

/**
 * `[from, to)` of a query, in UTC whatever the host's time zone: `to` defaults to now, `from` to `defaultMs` before
 * `to`. A range too long names the field the client sent: `from` alone is what makes it too long.
 */
export function rangeOf(q: RangeQuery, rules: RangeRules): TimeRange {
  const to = instant(q, 'to') ?? rules.now;
  const from = instant(q, 'from') ?? new Date(to.getTime() - rules.defaultMs);
  if (from >= to) {
    throw invalidParam('from', "it must be before 'to'");
  }
  if (to.getTime() - from.getTime() > rules.maxDays * DAY_MS) {
    const param = q.to === undefined ? 'from' : 'to';
    const note = q.to === undefined ? " ('to' defaults to now)" : '';
    throw invalidParam(param, `a range covers at most ${rules.maxDays} days${note}; ask for several ranges`);
  }
  return { from, to };
}
