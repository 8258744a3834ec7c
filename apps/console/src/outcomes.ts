/** How the requests of the admin analytics ended: pure, for the Usage screen. */

/**
 * The admin analytics' outcome counts (`GET /admin/usage` totals and groups): each request is a success, a failure,
 * or left by its client before the answer ended (`clientClosed`), which is neither.
 */
export interface Outcomes {
  successes: number;
  failures: number;
  clientClosed: number;
}

const count = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/**
 * The outcome counts of a usage answer's totals; null when it has none (the caller's own usage view). A gateway from
 * before `clientClosed` counted those requests among its failures: 0 of them then.
 */
export function outcomesOf(totals: object): Outcomes | null {
  const t = totals as Record<string, unknown>;
  const successes = count(t.successes);
  const failures = count(t.failures);
  if (successes === null || failures === null) {
    return null;
  }
  return { successes, failures, clientClosed: count(t.clientClosed) ?? 0 };
}

/**
 * The share of successes among the requests that ended, `successes / (successes + failures)`, as the metrics API's
 * `successRate`: a request its client left is no failure of the gateway's or a provider's. Null when none ended.
 */
export function successRateOf(o: Outcomes): number | null {
  const ended = o.successes + o.failures;
  return ended === 0 ? null : o.successes / ended;
}
