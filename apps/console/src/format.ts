/** Display formats: numbers come from the APIs, these only shape them. */

export function formatUsd(usd: number | null | undefined): string {
  if (usd === null || usd === undefined || !Number.isFinite(usd)) {
    return '—';
  }
  if (usd === 0) {
    return '$0';
  }
  const sign = usd < 0 ? '-' : '';
  const abs = Math.abs(usd);
  const digits = abs >= 1 ? 2 : abs >= 0.01 ? 4 : 6;
  const fixed = abs.toFixed(digits);
  // Per-request costs are fractions of a cent: keep enough digits to see them, and never round one to zero (nor
  // compare with 0.0000005 instead: 5e-7 as a double is a hair under it, and rounds to zero).
  if (Number(fixed) === 0) {
    return `${sign}<$0.000001`;
  }
  const [whole, fraction = ''] = fixed.split('.');
  const cents = fraction.replace(/0+$/, '');
  return `${sign}$${Number(whole).toLocaleString('en-US')}${cents === '' ? '' : `.${cents}`}`;
}

export function formatCount(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) {
    return '—';
  }
  // `+ 0`: -0.4 rounds to -0, which would read "-0".
  return (Math.round(n) + 0).toLocaleString('en-US');
}

/**
 * A ratio in [0, 1] as a percentage. Only a perfect rate reads 100% and only none reads 0%: what rounds to either
 * reads `>99.9%` or `<0.1%` (a success rate of 99.999% is not perfect).
 */
export function formatPercent(ratio: number | null | undefined, digits = 1): string {
  if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) {
    return '—';
  }
  const text = (p: number) => p.toFixed(digits).replace(/\.0+$/, '');
  const fixed = Number((ratio * 100).toFixed(digits));
  const step = 10 ** -digits;
  if (ratio < 1 && fixed >= 100) {
    return `>${text(100 - step)}%`;
  }
  if (ratio > 0 && fixed <= 0) {
    return `<${text(step)}%`;
  }
  return `${text(ratio * 100)}%`;
}

export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) {
    return '—';
  }
  // Rounded before the unit is chosen: 999.6 ms is "1 s", never "1000 ms".
  return Math.round(ms) >= 1000 ? `${(ms / 1000).toFixed(2).replace(/\.?0+$/, '')} s` : `${Math.round(ms)} ms`;
}

const BYTE_UNITS = ['B', 'kB', 'MB', 'GB', 'TB'];

/** A size in bytes (powers of 1024), one decimal past a kilobyte; the unit is chosen after rounding. */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) {
    return '—';
  }
  let unit = 0;
  // 1023.96 kB rounds to "1024.0": that reads as the next unit up.
  while (unit < BYTE_UNITS.length - 1 && Number((n / 1024 ** unit).toFixed(unit === 0 ? 0 : 1)) >= 1024) {
    unit++;
  }
  return unit === 0 ? `${Math.round(n)} B` : `${(n / 1024 ** unit).toFixed(1)} ${BYTE_UNITS[unit]}`;
}

/** Price per 1k tokens: prompt / completion. */
export function formatPrice(promptPer1k: number, completionPer1k: number): string {
  return `${formatUsd(promptPer1k)} / ${formatUsd(completionPer1k)}`;
}

export function formatDateTime(iso: string | null | undefined): string {
  if (iso === null || iso === undefined || iso === '') {
    return '—';
  }
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
}

/** An API key's state in the keys list: revoked, expired (its expiry has passed), expiring, or active. */
export function formatKeyState(
  k: { revokedAt: string | null; expiresAt: string | null },
  now: number = Date.now(),
): string {
  if (k.revokedAt) {
    return `revoked ${formatDateTime(k.revokedAt)}`;
  }
  if (k.expiresAt) {
    return `${Date.parse(k.expiresAt) <= now ? 'expired' : 'expires'} ${formatDateTime(k.expiresAt)}`;
  }
  return 'active';
}

/**
 * A rate-limit window: `42 / 60 requests left`, with when it resets; a window whose reset has passed says that it
 * has refilled since, rather than pass an old figure off as current.
 */
export function formatQuotaWindow(
  w: { limit: number | null; remaining: number | null; resetAt: string | null; stale: boolean } | null,
  unit: string,
): string | null {
  if (w === null) {
    return null;
  }
  const left = w.limit === null ? formatCount(w.remaining) : `${formatCount(w.remaining)} / ${formatCount(w.limit)}`;
  if (w.stale) {
    return `${left} ${unit} left (reset since)`;
  }
  return w.resetAt === null ? `${left} ${unit} left` : `${left} ${unit} left, resets ${formatDateTime(w.resetAt)}`;
}

export type HealthColour = 'green' | 'yellow' | 'red' | 'grey';

/** The monitor's statuses (and the models listing's) as the traffic-light the screens show. */
export function healthColour(status: string | null | undefined): HealthColour {
  switch (status ?? '') {
    case 'healthy':
    case 'closed':
      return 'green';
    case 'degraded':
    case 'half-open':
    case 'half_open':
      return 'yellow';
    case 'failing':
    case 'open':
    case 'down':
      return 'red';
    default:
      return 'grey';
  }
}

/** `YYYY-MM-DD` of a date in UTC, for date inputs and day buckets. */
export function isoDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

/** Three significant digits, as k / M / B / T past a thousand; small values in plain digits, never `5e-7`. */
const COMPACT = new Intl.NumberFormat('en-US', { notation: 'compact', maximumSignificantDigits: 3 });

/**
 * A chart axis's tick: `2.5k`, `1.5M` (a day's tokens run to millions), `$0.00025` for a cost (`unit` usd), where a
 * day's cost may be a fraction of a cent.
 */
export function formatAxisTick(v: number, unit?: 'usd'): string {
  if (!Number.isFinite(v)) {
    return '—';
  }
  const plain = COMPACT.format(Math.abs(v)).replace(/K$/, 'k');
  return `${v < 0 ? '-' : ''}${unit === 'usd' ? '$' : ''}${plain}`;
}
