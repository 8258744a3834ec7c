import { DAY_MS, type CallerLimits, type Reservation } from '@aigw/core';
import { RedisScript, type RedisClient } from '@aigw/routing';
import { ADMIT_LUA, SETTLE_LUA, UNDO_LUA } from './admission.lua';
import type { GovernanceKeys } from './keys';
import { periodsAt, reservedNanos, usdToNanos, type Periods } from './periods';

export type LimitCheck =
  | 'key_rpm'
  | 'key_tpm'
  | 'user_rpm'
  | 'user_tpm'
  | 'daily_requests'
  | 'daily_spend'
  | 'monthly_requests'
  | 'monthly_spend';

export const RATE_CHECKS: ReadonlySet<LimitCheck> = new Set(['key_rpm', 'key_tpm', 'user_rpm', 'user_tpm']);

export interface AdmissionInput {
  keyId: string;
  userId: string;
  limits: CallerLimits;
  /** Estimated prompt tokens plus the completion allowance. */
  tokens: number;
  /** Worst-case cost of the request, USD. */
  reserveUsd: number;
  /**
   * Of `tokens` and `reserveUsd`, the share of the request's audio and file parts (estimated by their size, roughly):
   * cut to what the tightest limit leaves, so that it never makes a request too large for a limit on its own (see
   * ADMIT_LUA). Absent: none.
   */
  media?: { tokens: number; reserveUsd: number };
  now: number;
  /**
   * The request's id: it is charged once whatever the connection sends again (ADMIT_LUA marks it for ADMIT_MARK_MS).
   * Absent (a rate-only read, which reserves nothing): no marker, each call is charged.
   */
  requestId?: string;
  /**
   * When the request was received (epoch ms), which dates its usage record: its day and month are the ones it counts
   * in, as usage_records (and a rebuild from them) count it, though admission may come a few ms later, past midnight.
   * Absent: `now`. Rate-limit windows are always `now`'s.
   */
  receivedAt?: number;
}

/** The `x-ratelimit-*` view of the key's minute (the binding one of key and user limits). */
export interface RateView {
  limitRequests: number | null;
  remainingRequests: number | null;
  limitTokens: number | null;
  remainingTokens: number | null;
  /** ms until the minute window resets. */
  resetMs: number;
}

export type AdmissionVerdict =
  | { kind: 'admitted'; reservation: Reservation | null; rate: RateView }
  | {
      kind: 'refused';
      check: LimitCheck;
      current: number;
      limit: number;
      /**
       * The request alone asks more than the limit allows (tokens per minute, spend): waiting never helps, only a
       * smaller request does.
       */
      tooLarge: boolean;
      retryAfterMs: number;
      rate: RateView;
    }
  | { kind: 'rebuild' }
  /**
   * The request's admission was undone before this script ran (`AdmissionStore.undo`: its caller got an error instead
   * of an answer, and answered the request 503): nothing was charged, and the caller must not admit it.
   */
  | { kind: 'undone' };

const ADMIT = new RedisScript(ADMIT_LUA);
const SETTLE = new RedisScript(SETTLE_LUA);
const UNDO = new RedisScript(UNDO_LUA);

/** Day counters stay readable a day past their day, month counters a week past their month. */
const DAY_KEEP_MS = DAY_MS;
const MONTH_KEEP_MS = 7 * DAY_MS;
const WINDOW_KEEP_MS = 1_000;

const arg = (n: number | null): number => (n === null ? -1 : n);

/**
 * How long the marker of a refund of a request that has no job lives (`refund`): past the time a client may take to
 * send the script again after its connection dropped with it unanswered (ioredis resends such commands at the
 * reconnection; a dropped connection is seen within the platform's 15 s socket timeout). A reconnection may take
 * longer to get ready: the script is not sent past LATE_SEND_MARGIN_MS before the marker's end.
 */
export const REFUND_MARK_MS = 75_000;

/**
 * How long a request's admission marker lives (`AdmissionInput.requestId`): as the refund's, past the time a client
 * may take to send the admission script again after its connection dropped with it unanswered.
 */
export const ADMIT_MARK_MS = REFUND_MARK_MS;

/**
 * A marked script (an admission, a refund) is not sent, first or again, later than its marker's life minus this after
 * it was asked for (`RedisScript.run`'s `sendBy`). ioredis holds a script whose connection dropped unanswered until a
 * reconnection is ready, which a half-open network behind a proxy can put off indefinitely: sent again past the marker
 * of the run it repeats, a refund was given back twice (another request's reservation taken off), an admission
 * charged twice. The marker is set when the script runs, after it was asked for; a script written by the deadline
 * reaches Redis within the platform's 15 s socket timeout, or its socket is destroyed (and it is held again): 20 s.
 * Past it, the script is rejected: a refund is given up (stays charged, never under-counted), an admission fails.
 */
const LATE_SEND_MARGIN_MS = 20_000;

/**
 * Rate limits and quotas in Redis, shared by every gateway replica: one script call admits (or refuses) a
 * request and reserves its tokens and worst-case spend; one call settles the reservation to the real usage.
 */
export class AdmissionStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: GovernanceKeys,
  ) {}

  async admit(input: AdmissionInput): Promise<AdmissionVerdict> {
    const { limits: l, now } = input;
    const { p, q, keyList, dailySpend, monthlySpend } = this.countersOf(input);
    const k = this.keys;
    const reserveNanos = reservedNanos(input.reserveUsd);
    const media = input.media;
    // The request without its audio and file parts: what a limit must take for it to be admitted.
    const tokensFloor = media === undefined ? input.tokens : input.tokens - media.tokens;
    const nanosFloor =
      media === undefined ? reserveNanos : Math.min(reserveNanos, reservedNanos(input.reserveUsd - media.reserveUsd));
    // The request's marker (one GET, and one SET when it is charged, inside the script): no round trip more.
    const marked = input.requestId === undefined ? keyList : [...keyList, k.admitted(input.requestId)];
    // Marked: never sent past its marker's life (LATE_SEND_MARGIN_MS). Unmarked (a rate-only read): as before.
    const sendBy = input.requestId === undefined ? undefined : Date.now() + ADMIT_MARK_MS - LATE_SEND_MARGIN_MS;
    const reply = (await ADMIT.run(
      this.redis,
      marked,
      [
        arg(l.keyRpm),
        arg(l.keyTpm),
        arg(l.userRpm),
        arg(l.userTpm),
        arg(l.dailyRequestLimit),
        arg(dailySpend),
        arg(l.monthlyRequestLimit),
        arg(monthlySpend),
        input.tokens,
        reserveNanos,
        p.windowEndsAt + WINDOW_KEEP_MS,
        q.dayEndsAt + DAY_KEEP_MS,
        q.monthEndsAt + MONTH_KEEP_MS,
        tokensFloor,
        nanosFloor,
        ADMIT_MARK_MS,
      ],
      sendBy,
    )) as [string, ...(string | number)[]];
    const resetMs = Math.max(0, p.windowEndsAt - now);
    switch (reply[0]) {
      case 'rebuild':
        return { kind: 'rebuild' };
      case 'undone':
        return { kind: 'undone' };
      case 'refused': {
        const [, check, current, limit, ...counts] = reply as [string, LimitCheck, number, number, ...number[]];
        // A day or month of receipt that is already over (admitted past midnight) resets at once.
        const retryAfterMs = RATE_CHECKS.has(check) ? resetMs : Math.max(0, this.periodEnd(check, q) - now);
        // Too large on its own: without its audio and file parts, which are only reserved as far as a limit leaves.
        const asked = check.endsWith('tpm') ? tokensFloor : check.endsWith('spend') ? nanosFloor : 1;
        const tooLarge = asked > Number(limit);
        return {
          kind: 'refused',
          check,
          current: Number(current),
          limit: Number(limit),
          tooLarge,
          retryAfterMs,
          rate: this.rateView(l, counts.map(Number), resetMs, tooLarge ? undefined : check),
        };
      }
      default: {
        const counts = reply.slice(1, 5).map(Number);
        const tokenKeys: string[] = [];
        const spendKeys: string[] = [];
        const periodEnds: number[] = [];
        if (l.keyTpm !== null) {
          tokenKeys.push(keyList[2]);
        }
        if (l.userTpm !== null) {
          tokenKeys.push(keyList[4]);
        }
        if (dailySpend !== null) {
          spendKeys.push(keyList[6]);
          periodEnds.push(q.dayEndsAt);
        }
        if (monthlySpend !== null) {
          spendKeys.push(keyList[8]);
          periodEnds.push(q.monthEndsAt);
        }
        const requests: { keys: string[]; periodEnds: number[] } = { keys: [], periodEnds: [] };
        if (l.dailyRequestLimit !== null) {
          requests.keys.push(keyList[5]);
          requests.periodEnds.push(q.dayEndsAt);
        }
        if (l.monthlyRequestLimit !== null) {
          requests.keys.push(keyList[7]);
          requests.periodEnds.push(q.monthEndsAt);
        }
        const reservation =
          tokenKeys.length + spendKeys.length + requests.keys.length === 0
            ? null
            : {
                tokenKeys,
                // What was charged: less than asked when audio and file parts were cut to what a limit left.
                tokens: Number(reply[7]),
                spendKeys,
                nanos: Number(reply[8]),
                counters: { epoch: String(reply[5]), resets: String(reply[6]), resetsKey: keyList[9], periodEnds },
                ...(requests.keys.length === 0 ? {} : { requests }),
              };
        return { kind: 'admitted', reservation, rate: this.rateView(l, counts, resetMs) };
      }
    }
  }

  /**
   * Takes back the admission of `input` (the same input, request id included) when its caller got an error instead of
   * the script's answer (UNDO_LUA): Redis may have run it, and its charge (a request, the tokens, the spend reservation
   * in every counter of a limit that applies) would stay until the minute, day and month ended, since no job settles
   * it. Given back once, as a settlement to nothing would; with no admission yet, a tombstone makes the script, should
   * it still arrive, charge nothing. Safe to send again (ioredis does after a dropped connection). True when a charge
   * was given back. One script call.
   */
  async undo(input: AdmissionInput & { requestId: string }): Promise<boolean> {
    const { q, keyList, dailySpend, monthlySpend } = this.countersOf(input);
    const l = input.limits;
    // In keyList's order (after the epoch): each counter the admission charges when its limit applies.
    const charged: [number | null, string, number | ''][] = [
      [l.keyRpm, 'requests', ''],
      [l.keyTpm, 'tokens', ''],
      [l.userRpm, 'requests', ''],
      [l.userTpm, 'tokens', ''],
      [l.dailyRequestLimit, 'requests', q.dayEndsAt],
      [dailySpend, 'spend', q.dayEndsAt],
      [l.monthlyRequestLimit, 'requests', q.monthEndsAt],
      [monthlySpend, 'spend', q.monthEndsAt],
    ];
    const keys = [this.keys.admitted(input.requestId), keyList[0], keyList[9]];
    const args: (string | number)[] = [ADMIT_MARK_MS];
    charged.forEach(([limit, what, ends], i) => {
      if (limit !== null) {
        keys.push(keyList[i + 1]);
        args.push(what, ends);
      }
    });
    return (await UNDO.run(this.redis, keys, args)) === 1;
  }

  /**
   * The counters `input` is admitted against (ADMIT_LUA's KEYS 1 to 10), and the periods they count: the minute's
   * (`p`), and the day and month of the request's receipt (`q`).
   */
  private countersOf(input: AdmissionInput): {
    p: Periods;
    q: Periods;
    keyList: string[];
    dailySpend: number | null;
    monthlySpend: number | null;
  } {
    const { limits: l, keyId, userId, now } = input;
    const p = periodsAt(now);
    // The day and month of the request's receipt, when admission runs past its end (rare: only a request received
    // in the last ms of a day pays a second periodsAt). Not one that ended more than a day ago: its counters are gone.
    const received = input.receivedAt;
    const q =
      received !== undefined && received < p.dayEndsAt - DAY_MS && now - received < DAY_KEEP_MS
        ? periodsAt(received)
        : p;
    const k = this.keys;
    const keyList = [
      k.epoch,
      k.keyRequests(keyId, p),
      k.keyTokens(keyId, p),
      k.userRequests(userId, p),
      k.userTokens(userId, p),
      k.dayRequests(userId, q.day),
      k.daySpend(userId, q.day),
      k.monthRequests(userId, q.month),
      k.monthSpend(userId, q.month),
      k.quotaResets(userId),
    ];
    return {
      p,
      q,
      keyList,
      dailySpend: l.dailySpendLimitUsd === null ? null : usdToNanos(l.dailySpendLimitUsd),
      monthlySpend: l.monthlySpendLimitUsd === null ? null : usdToNanos(l.monthlySpendLimitUsd),
    };
  }

  /**
   * Moves every reserved counter to the real usage (a failed request: tokens 0, cost 0, a full refund). With `once`,
   * only the first settlement of that reservation moves them (`once.jobId` names its admission: the request id; its
   * marker lives `ttlMs`; `sendBy`: not sent after that time, see LATE_SEND_MARGIN_MS): a re-run of a job whose
   * settlement landed before its worker died must not take the reservation off a second time. `receivedAt` (epoch ms): when the request was received, which decides whether its
   * cost counts after an admin reset of the user's quota (unknown: it does). Settled after the admission's minute
   * ended, the tokens used beyond the reservation count in the minute now (its token counters' twins, in the same
   * script call).
   */
  async settle(
    reservation: Reservation,
    usedTokens: number,
    costUsd: number,
    once?: { jobId: string; ttlMs: number; sendBy?: number },
    receivedAt?: number,
    uncount = false,
  ): Promise<void> {
    const marker = once === undefined ? this.keys.settled('') : this.keys.settled(once.jobId);
    const at = reservation.counters;
    // Settled after its minute ended: the tokens used beyond the reservation count in this minute (SETTLE_LUA).
    const p = periodsAt(Date.now());
    const late = reservation.tokenKeys.map((key) => this.keys.tokensInWindow(key, p.window));
    const named = late.filter((key): key is string => key !== null);
    // All or none: the token counters of one admission share its minute.
    const twins = named.length === late.length ? named : [];
    // Without `counters` (a reservation of an older release) the reset count's key is never read: any name does.
    const keys = [
      marker,
      this.keys.epoch,
      at?.resetsKey ?? marker,
      ...reservation.tokenKeys,
      ...twins,
      ...reservation.spendKeys,
    ];
    // Taken off the day's and month's request counters too: only a request nobody served, which nothing records.
    const requests = uncount ? reservation.requests : undefined;
    if (requests !== undefined) {
      keys.push(...requests.keys);
    }
    // A reservation of the release that counted micro-dollars is settled in its own counters and unit.
    const cost = reservation.micros === undefined ? usdToNanos(costUsd) : Math.ceil(costUsd * 1_000_000 - 1e-9);
    const args = [
      once === undefined ? 0 : Math.max(1, Math.ceil(once.ttlMs)),
      at?.epoch ?? '',
      at?.resets ?? '',
      reservation.tokenKeys.length,
      usedTokens - reservation.tokens,
      usedTokens,
      reservation.micros ?? reservation.nanos,
      cost,
      receivedAt ?? '',
      twins.length === 0 ? '' : p.windowEndsAt + WINDOW_KEEP_MS,
      requests?.keys.length ?? 0,
      // Without them (a reservation of an older release), any reset concerns every spend counter, as it did then.
      ...reservation.spendKeys.map((_, i) => at?.periodEnds?.[i] ?? ''),
      ...(requests?.periodEnds ?? []),
    ];
    await SETTLE.run(this.redis, keys, args, once?.sendBy);
  }

  /**
   * Gives back the whole reservation of a request that has no job (a cache hit, a coalesced follower, a request never
   * queued; `uncount`: one nobody served, which no usage record counts, is taken off the day's and month's requests
   * too): marked by its request id for REFUND_MARK_MS, so that the script sent again after a dropped connection
   * (it may have run already) gives nothing back a second time. One key written in the same script call.
   */
  refund(reservation: Reservation, requestId: string, receivedAt?: number, uncount = false): Promise<void> {
    // Never sent past its marker's life: held that long (a reconnection that never gets ready), it is given up.
    const sendBy = Date.now() + REFUND_MARK_MS - LATE_SEND_MARGIN_MS;
    return this.settle(reservation, 0, 0, { jobId: requestId, ttlMs: REFUND_MARK_MS, sendBy }, receivedAt, uncount);
  }

  private periodEnd(check: LimitCheck, p: Periods): number {
    return check === 'daily_requests' || check === 'daily_spend' ? p.dayEndsAt : p.monthEndsAt;
  }

  /**
   * The binding one of the key's and the user's limits, per dimension: the one with less left (the smaller limit on a
   * tie), as OpenAI's headers say what the next request runs into. `counts` are the minute's counters after charging
   * (key requests, key tokens, user requests, user tokens); on a refusal they are uncharged, and the dimension that
   * refused shows nothing remaining.
   */
  private rateView(l: CallerLimits, counts: number[], resetMs: number, refused?: LimitCheck): RateView {
    const requests = binding(
      { limit: l.keyRpm, used: counts[0], exhausted: refused === 'key_rpm' },
      { limit: l.userRpm, used: counts[2], exhausted: refused === 'user_rpm' },
    );
    const tokens = binding(
      { limit: l.keyTpm, used: counts[1], exhausted: refused === 'key_tpm' },
      { limit: l.userTpm, used: counts[3], exhausted: refused === 'user_tpm' },
    );
    return {
      limitRequests: requests?.limit ?? null,
      remainingRequests: requests?.remaining ?? null,
      limitTokens: tokens?.limit ?? null,
      remainingTokens: tokens?.remaining ?? null,
      resetMs,
    };
  }
}

interface MinuteLimit {
  limit: number | null;
  used: number | undefined;
  exhausted: boolean;
}

/** Of a key's and a user's limit of one dimension, the one with less remaining; null when neither is set. */
function binding(key: MinuteLimit, user: MinuteLimit): { limit: number; remaining: number } | null {
  let best: { limit: number; remaining: number } | null = null;
  for (const x of [key, user]) {
    if (x.limit === null) {
      continue;
    }
    const remaining = x.exhausted ? 0 : Math.max(0, x.limit - (x.used ?? x.limit));
    if (best === null || remaining < best.remaining || (remaining === best.remaining && x.limit < best.limit)) {
      best = { limit: x.limit, remaining };
    }
  }
  return best;
}
