import { useState } from 'preact/hooks';
import { api, apiFile, qs } from '../api';
import { BarChart, LineChart, type Point } from '../charts';
import { formatCount, formatDateTime, formatPercent, formatUsd } from '../format';
import { REFRESH_MS, useAction, useLoad, type Load } from '../hooks';
import { outcomesOf, successRateOf } from '../outcomes';
import type { UsageGroup, UsageTotals, UsageView } from '../types';
import { ActionNote, Empty, ErrorBox, Field, Loaded, Section, Stat, download } from '../ui';
import {
  ANALYTICS_MAX_DAYS,
  apiRange,
  daysOf,
  OWN_USAGE_MAX_DAYS,
  rangeKey,
  rangeProblem,
  resolveRange,
  type DayRange,
  type RangeChoice,
} from '../usage-range';

type Metric = 'requests' | 'tokens' | 'costUsd';

const METRICS: Record<
  Metric,
  { label: string; of: (g: UsageTotals) => number; format: (v: number) => string; unit?: 'usd' }
> = {
  requests: { label: 'Requests', of: (g) => g.requests, format: formatCount },
  tokens: { label: 'Tokens', of: (g) => g.promptTokens + g.completionTokens, format: formatCount },
  costUsd: { label: 'Cost', of: (g) => g.costUsd, format: formatUsd, unit: 'usd' },
};

/** The user view answers `{totals, groups}`; the admin analytics may page its groups under `data`. */
interface AnyUsage extends Partial<UsageView> {
  data?: UsageGroup[];
  items?: UsageGroup[];
}

function groupsOf(u: AnyUsage): UsageGroup[] {
  return u.groups ?? u.data ?? u.items ?? [];
}

function totalsOf(u: AnyUsage): UsageTotals {
  if (u.totals !== undefined) {
    return u.totals;
  }
  const sum = (f: (g: UsageGroup) => number | undefined) => groupsOf(u).reduce((a, g) => a + (f(g) ?? 0), 0);
  return {
    requests: sum((g) => g.requests),
    promptTokens: sum((g) => g.promptTokens),
    completionTokens: sum((g) => g.completionTokens),
    costUsd: sum((g) => g.costUsd),
    cacheHits: sum((g) => g.cacheHits ?? g.cachedRequests),
  };
}

function labelOf(g: UsageGroup, by: string): string {
  const v = g[by] ?? g.key;
  return typeof v === 'string' || typeof v === 'number' ? String(v) : '(none)';
}

function dayPoints(groups: UsageGroup[], r: DayRange, metric: Metric): Point[] {
  const byDay = new Map(groups.map((g) => [labelOf(g, 'day').slice(0, 10), METRICS[metric].of(g)]));
  return daysOf(r).map(({ day, label }) => ({ key: day, label, value: byDay.get(day) ?? 0 }));
}

/** An answer with the days it covers (a relative range's days are those of the clock when it was fetched). */
type UsageOf = AnyUsage & { range: DayRange };

async function loadUsage(all: boolean, choice: RangeChoice, groupBy: 'day' | 'provider'): Promise<UsageOf> {
  const path = all ? '/api/v1/ai/admin/usage' : '/api/v1/ai/usage';
  // Worked out at each fetch, the periodic refresh included: a screen left open past midnight shows the new day.
  const range = resolveRange(choice, Date.now());
  const u = await api<AnyUsage>(`${path}${qs({ ...apiRange(range), groupBy, ...(all ? { limit: 500 } : {}) })}`);
  return { ...u, range };
}

function Quota({ u }: { u: AnyUsage }) {
  const q = u.quota;
  if (q === undefined) {
    return null;
  }
  const limit = (used: number, lim: number | null, left: number | null, f: (v: number) => string) =>
    lim === null ? `${f(used)} (no limit)` : `${f(used)} of ${f(lim)}, ${f(left ?? 0)} left`;
  // "Today" and "this month" are UTC periods, which a reader west or east of UTC would not guess: say when they end.
  const resets = (at: string | undefined) => (at === undefined ? undefined : `resets ${formatDateTime(at)}`);
  const day = resets(q.resetsAt?.daily);
  const month = resets(q.resetsAt?.monthly);
  return (
    <Section title={`Remaining quota (tier ${q.tier})`}>
      <div class="stats">
        <Stat
          label="Requests today"
          hint={day}
          value={limit(q.dailyRequests, q.dailyRequestLimit, q.remaining.dailyRequests, formatCount)}
        />
        <Stat
          label="Requests this month"
          hint={month}
          value={limit(q.monthlyRequests, q.monthlyRequestLimit, q.remaining.monthlyRequests, formatCount)}
        />
        <Stat
          label="Spend today"
          hint={day}
          value={limit(q.dailySpendUsd, q.dailySpendLimitUsd, q.remaining.dailySpendUsd, formatUsd)}
        />
        <Stat
          label="Spend this month"
          hint={month}
          value={limit(q.monthlySpendUsd, q.monthlySpendLimitUsd, q.remaining.monthlySpendUsd, formatUsd)}
        />
      </div>
    </Section>
  );
}

export function UsageScreen({ admin }: { admin: boolean }) {
  const [choice, setChoice] = useState<RangeChoice>({ kind: 'last', days: 7 });
  const [all, setAll] = useState(false);
  const [metric, setMetric] = useState<Metric>('requests');
  // Each answer renders again: the fields of a relative range move on at the first refresh past midnight.
  const range = resolveRange(choice, Date.now());
  // A range the API would refuse is said here, in the fields' terms, and not asked for (a relative one never is).
  const problem = rangeProblem(range, all ? ANALYTICS_MAX_DAYS : OWN_USAGE_MAX_DAYS);
  const live = { refreshMs: REFRESH_MS, enabled: problem === null };
  const byDay = useLoad(() => loadUsage(all, choice, 'day'), [all, rangeKey(choice)], live);
  const byProvider = useLoad(() => loadUsage(all, choice, 'provider'), [all, rangeKey(choice)], live);
  const [csv, runCsv] = useAction();
  const csvProblem = rangeProblem(range, ANALYTICS_MAX_DAYS);
  // A date picked fixes the range: it no longer moves with the clock.
  const pick = (edit: Partial<DayRange>) => setChoice({ kind: 'custom', ...range, ...edit });

  const downloadCsv = () =>
    runCsv(async () => {
      const days = resolveRange(choice, Date.now());
      const path = `/api/v1/ai/admin/costs${qs({ ...apiRange(days), by: 'day', format: 'csv' })}`;
      download(`costs-${days.from}-${days.to}.csv`, await apiFile(path, 'text/csv', 'CSV'), 'text/csv');
      return 'Costs CSV downloaded.';
    });

  return (
    <>
      <form class="toolbar" aria-label="Usage range" onSubmit={(e) => e.preventDefault()}>
        <Field label="From (UTC)">
          <input
            type="date"
            value={range.from}
            max={range.to}
            onChange={(e) => {
              const v = e.currentTarget.value;
              if (v !== '') {
                pick({ from: v });
              }
            }}
          />
        </Field>
        <Field label="To (UTC)">
          <input
            type="date"
            value={range.to}
            min={range.from}
            onChange={(e) => {
              const v = e.currentTarget.value;
              if (v !== '') {
                pick({ to: v });
              }
            }}
          />
        </Field>
        <div class="buttons" role="group" aria-label="Quick ranges">
          {[1, 7, 30].map((n) => (
            <button key={n} type="button" class="secondary" onClick={() => setChoice({ kind: 'last', days: n })}>
              {n === 1 ? 'Today' : `Last ${n} days`}
            </button>
          ))}
        </div>
        <Field label="Chart">
          <select value={metric} onChange={(e) => setMetric(e.currentTarget.value as Metric)}>
            {(Object.keys(METRICS) as Metric[]).map((m) => (
              <option key={m} value={m}>
                {METRICS[m].label}
              </option>
            ))}
          </select>
        </Field>
        {admin && (
          <>
            <label class="check">
              <input type="checkbox" checked={all} onChange={(e) => setAll(e.currentTarget.checked)} />
              All users
            </label>
            <button type="button" disabled={csv.busy || csvProblem !== null} onClick={() => void downloadCsv()}>
              Download costs CSV
            </button>
          </>
        )}
      </form>
      <ActionNote action={csv} />
      {problem === null ? (
        <UsageSections all={all} metric={metric} byDay={byDay} byProvider={byProvider} />
      ) : (
        <ErrorBox message={problem} />
      )}
    </>
  );
}

function UsageSections({
  all,
  metric,
  byDay,
  byProvider,
}: {
  all: boolean;
  metric: Metric;
  byDay: Load<UsageOf>;
  byProvider: Load<UsageOf>;
}) {
  return (
    <>
      <Loaded load={byDay} what="usage">
        {(u) => {
          const t = totalsOf(u);
          const hits = t.cacheHits ?? t.cachedRequests;
          // The admin analytics' outcomes (the caller's own view has none).
          const outcomes = u.totals === undefined ? null : outcomesOf(u.totals);
          return (
            <>
              <Section title={all ? 'All users' : 'Your usage'}>
                <div class="stats">
                  <Stat label="Requests" value={formatCount(t.requests)} />
                  <Stat
                    label="Tokens"
                    value={formatCount(t.promptTokens + t.completionTokens)}
                    hint={`${formatCount(t.promptTokens)} prompt, ${formatCount(t.completionTokens)} completion`}
                  />
                  <Stat label="Cost" value={formatUsd(t.costUsd)} />
                  <Stat
                    label="Cache hit rate"
                    value={hits === undefined || t.requests === 0 ? '—' : formatPercent(hits / t.requests)}
                  />
                  {outcomes !== null && (
                    <Stat
                      label="Success rate"
                      value={formatPercent(successRateOf(outcomes))}
                      hint={`Of the requests that ended: ${formatCount(outcomes.failures)} failed; ${formatCount(outcomes.clientClosed)} left by their client (neither)`}
                    />
                  )}
                </div>
                {t.requests === 0 ? (
                  <Empty>No requests in this range.</Empty>
                ) : (
                  <LineChart
                    title={`${METRICS[metric].label} per day (UTC)`}
                    points={dayPoints(groupsOf(u), u.range, metric)}
                    format={METRICS[metric].format}
                    unit={METRICS[metric].unit}
                  />
                )}
              </Section>
              {!all && <Quota u={u} />}
            </>
          );
        }}
      </Loaded>
      <Section title="By provider">
        <Loaded load={byProvider} what="provider breakdown">
          {(u) => {
            const groups = groupsOf(u);
            return groups.length === 0 ? (
              <Empty>No provider answered in this range.</Empty>
            ) : (
              <BarChart
                title={`${METRICS[metric].label} by provider`}
                points={groups.map((g) => ({ label: labelOf(g, 'provider'), value: METRICS[metric].of(g) }))}
                format={METRICS[metric].format}
                unit={METRICS[metric].unit}
              />
            );
          }}
        </Loaded>
      </Section>
    </>
  );
}
