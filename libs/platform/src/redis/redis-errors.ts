import { Logger } from '@nestjs/common';
import { describeError } from '../http/errors';
import { isLoginRefusal } from './redis-unreachable';

/**
 * What a failed Redis command was doing: the `op` label of `aigw_redis_errors_total`. A closed set, so
 * dashboards can rely on it; add, don't rename.
 */
export type RedisOp =
  /** A client's own connection error (refused, reset, timed out): one per reconnection attempt. */
  | 'connection'
  /** BullMQ queue or worker internals (job fetch, lock renewal, stalled check). */
  | 'queue'
  | 'enqueue'
  | 'circuit_read'
  | 'circuit_acquire'
  | 'circuit_record'
  | 'latency_read'
  | 'latency_record'
  | 'rotation'
  | 'route_read'
  | 'route_record'
  /** The health monitor's per-subject probe cycle lock (taken or released; the probe runs regardless). */
  | 'probe_lock'
  /** Deleting the routing state of providers and models that left the catalog (worker, after a reload). */
  | 'routing_forget'
  | 'usage_enqueue'
  | 'reply_publish'
  | 'reply_read'
  | 'answer_stash'
  /** Keeping a sync job's outcome for the gateway's read-back (worker; retried until stored). */
  | 'outcome_keep'
  /** Deleting kept outcomes whose request was answered (gateway; best effort, they expire anyway). */
  | 'outcome_release'
  | 'cancel'
  /** Marking a job its client left as being stopped (gateway; for Idempotency-Key retries, best effort). */
  | 'cancel_mark'
  /** Announcing a catalog change (`provider.changed`) to the other processes. */
  | 'catalog_notify'
  /** Announcing a key revocation or a limit change (`auth.changed`) to the other gateway replicas. */
  | 'auth_notify'
  /** Rate-limit and quota checks and refunds (gateway). */
  | 'admission'
  /** Settling a reservation to the real usage (worker). */
  | 'settlement'
  | 'quota_rebuild'
  /** Response cache lookups and fills: a failure is a `bypass`, never a failed request. */
  | 'cache'
  /** In-flight markers of coalesced requests: a failure means the request runs a job of its own. */
  | 'coalesce'
  /** Flushing the gateway's cache hit/miss counters (kept in process and retried). */
  | 'cache_stats'
  /** Flushing providers' rate limits seen by a worker (kept in process and retried), or reading them (admin). */
  | 'provider_quota';

/** Anything Redis-like whose failures arrive as events (an ioredis client, a BullMQ queue or worker). */
export interface ErrorEmitter {
  on(event: 'error', listener: (err: Error) => void): unknown;
}

/**
 * Emitted by a subscriber connection of `createRedis` once it really works again: a command answered after it turned
 * ready. Its argument is true when the connection was usable before (a reconnection), false the first time. ioredis turns a connection without a ready check ready before AUTH's answer, so its own `ready` also came on
 * every attempt that Redis then refused (a password rotated in Redis before the apps).
 */
export const REDIS_USABLE = 'usable';

/** A connection that reconnects by itself (ioredis). */
export interface Reconnecting {
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'ready' | typeof REDIS_USABLE, listener: (reconnected?: boolean) => void): unknown;
}

/** Errors stop being one outage when none arrived for this long and no watched connection is down. */
const QUIET_MS = 30_000;

/**
 * Ops of the response cache, whose commands run on a fail-fast connection of their own (CACHE_REDIS_URL, else
 * REDIS_URL) that holds no job, lock or result: see `mark`.
 */
const APART_OPS: ReadonlySet<RedisOp> = new Set<RedisOp>(['cache']);

interface Outage {
  since: number;
  lastErrorAt: number;
  errors: number;
}

/**
 * One kind of outage at a time: it starts with a failure and ends when every connection that dropped is ready
 * again, or, when none is down, after QUIET_MS without a failure. `RedisErrors` keeps two: the logged one (every
 * failure) and the one of the connections that may hold a job's lock (see `mark`).
 */
class OutageTracker {
  private outage: Outage | null = null;
  /** Outages started so far: the `mark` between outages. */
  private started = 0;
  private lastEndedAt = -Infinity;
  /** Names of connections that dropped and are not ready again. */
  private readonly down = new Set<string>();

  constructor(private readonly onEnd: (outage: Outage, now: number) => void = () => undefined) {}

  /** A failure, of the connection `name` when given; true when it starts an outage. */
  failed(now: number, name?: string): boolean {
    if (name !== undefined) {
      this.down.add(name);
    }
    const outage = this.current(now);
    if (outage !== null) {
      outage.errors++;
      outage.lastErrorAt = now;
      return false;
    }
    this.outage = { since: now, lastErrorAt: now, errors: 1 };
    this.started++;
    return true;
  }

  /** A connection is ready: the outage ends when it was the last one down (one that never dropped says nothing). */
  ready(name: string, now: number): void {
    if (this.down.delete(name) && this.down.size === 0 && this.outage !== null) {
      this.end(this.outage, now);
    }
  }

  /** The outage in progress, after ending one that went quiet. */
  current(now: number): Outage | null {
    const outage = this.outage;
    if (outage !== null && this.down.size === 0 && now - outage.lastErrorAt >= QUIET_MS) {
      this.end(outage, now);
      return null;
    }
    return outage;
  }

  /** When the outage in progress ends if no failure comes first; undefined when none is, or a connection is down. */
  quietAt(now: number): number | undefined {
    const outage = this.current(now);
    return outage !== null && this.down.size === 0 ? outage.lastErrorAt + QUIET_MS : undefined;
  }

  /** Null during an outage, else a number that changes whenever one starts. */
  mark(now: number): number | null {
    return this.current(now) === null ? this.started : null;
  }

  /** True during an outage and for `ms` after one ended. */
  within(ms: number, now: number): boolean {
    return this.current(now) !== null || now - this.lastEndedAt < ms;
  }

  private end(outage: Outage, now: number): void {
    this.outage = null;
    this.lastEndedAt = now;
    this.onEnd(outage, now);
  }
}

/**
 * The one place Redis failures of a process are reported. Every failure is counted by op; the log gets one
 * line when an outage starts (the first failure) and one when it ends (every connection that dropped is
 * ready again), not one per command or reconnection attempt: while Redis is down, a busy process fails
 * thousands of commands a second, and ioredis emits an error on every reconnection attempt.
 *
 * Every Redis client of the project is created through `createRedis`, which attaches it here, and every
 * BullMQ queue and worker is `watch`ed: a client without an error listener crashes the process on its first
 * connection error (ioredis's "Unhandled error event").
 */
export class RedisErrors {
  /** Every failure: the log's outages. */
  private readonly logged: OutageTracker;
  /**
   * The same for `mark` and `failedWithin`, which leave out the failures of connections watched `apart` and of
   * APART_OPS: a response-cache command past its 250 ms, or a cache Redis of its own that is down, says nothing of
   * the queue's Redis, yet made every job of the next 30 s keep its answer in Redis for an hour (AnswerStash).
   */
  private readonly locks = new OutageTracker();
  /** Looks again once an outage of failed commands may have gone quiet (see `checkWhenQuiet`). */
  private quietCheck: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: Pick<Logger, 'warn' | 'log'> = new Logger('Redis'),
    private readonly counter?: { inc(labels: { op: RedisOp }): void },
    private readonly now: () => number = Date.now,
  ) {
    this.logged = new OutageTracker((outage, now) => {
      const seconds = ((now - outage.since) / 1000).toFixed(1);
      // A warning, as the line of the outage it ends: LOG_LEVEL=warn showed the outage and hid its end.
      this.logger.warn(`Redis is back after ${seconds} s (${outage.errors} failed commands or connection attempts)`);
    });
  }

  /** A command failed; the caller has already decided what to do without its result. */
  report(op: RedisOp, err: unknown): void {
    this.failed(op, err, { apart: APART_OPS.has(op) });
  }

  private failed(op: RedisOp, err: unknown, from: { apart: boolean; connection?: string; variable?: string }): void {
    this.counter?.inc({ op });
    const now = this.now();
    if (!from.apart) {
      this.locks.failed(now, from.connection);
    }
    if (!this.logged.failed(now, from.connection)) {
      return;
    }
    this.checkWhenQuiet(QUIET_MS);
    // A refused login (a password rotated in Redis before the apps) names the variable to fix: with a cache Redis of
    // its own, the line did not say which of the two Redis refused it.
    const login =
      from.variable !== undefined && isLoginRefusal(err)
        ? `; Redis refused the login: check the user and password in ${from.variable}`
        : '';
    this.logger.warn(
      `Redis unavailable (${op}: ${describeError(err)}${login}); working without it where possible, further errors ` +
        'are counted in aigw_redis_errors_total until it is back',
    );
  }

  /**
   * Attaches to a connection: its errors are reported, its drop and return end or extend the outage. `apart`: a
   * connection that holds no job, lock or result (the response cache's), whose failures `mark` does not see.
   * `readyEvent`: the event that says it is back (REDIS_USABLE for a connection whose `ready` may come too early).
   */
  watchConnection(
    client: Reconnecting,
    name: string,
    opts: { apart?: boolean; readyEvent?: 'ready' | typeof REDIS_USABLE; variable?: string } = {},
  ): void {
    const apart = opts.apart === true;
    client.on('error', (err: Error) => {
      redactCredentials(err);
      this.failed('connection', err, { apart, connection: name, variable: opts.variable });
    });
    client.on(opts.readyEvent ?? 'ready', () => {
      const now = this.now();
      // Only a connection that may hold locks ends their outage (the cache's coming back says nothing of them).
      if (!apart) {
        this.locks.ready(name, now);
      }
      this.logged.ready(name, now);
    });
  }

  /** Attaches to a BullMQ queue or worker, whose errors come from its own connections' commands. */
  watch(emitter: ErrorEmitter, op: RedisOp = 'queue'): void {
    emitter.on('error', (err: Error) => this.report(op, err));
  }

  /**
   * A mark that changes whenever an outage starts, and is null during one. Work that compares the mark taken
   * when it started with the one when it ends knows, without a Redis call, whether Redis failed meanwhile
   * (and so whether its job lock may have lapsed). Failures of the response cache's connection do not count.
   */
  get mark(): number | null {
    const now = this.now();
    this.logged.current(now);
    return this.locks.mark(now);
  }

  /** True during an outage and for `ms` after one ended (the response cache's failures aside, as for `mark`). */
  failedWithin(ms: number): boolean {
    const now = this.now();
    this.logged.current(now);
    return this.locks.within(ms, now);
  }

  /**
   * One timer per outage, not per failure: an outage of failed commands only ends after a quiet spell, but nothing
   * looked before the next failure in a process that never reads `mark` (the api-gateway), so "Redis is back" came
   * minutes or hours late, just before the next "Redis unavailable", naming the whole gap as the outage's length.
   * An outage with a connection down ends when it is ready again, without this.
   */
  private checkWhenQuiet(delayMs: number): void {
    if (this.quietCheck !== undefined) {
      return;
    }
    this.quietCheck = setTimeout(() => {
      this.quietCheck = undefined;
      const now = this.now();
      this.locks.current(now);
      const quietAt = this.logged.quietAt(now);
      if (quietAt !== undefined) {
        this.checkWhenQuiet(Math.max(1, quietAt - now));
      }
    }, delayMs);
    this.quietCheck.unref();
  }
}

/**
 * ioredis hangs the failed command on its errors: a refused AUTH's carries REDIS_URL's user and password
 * (`command.args`), which Node prints with an unhandled rejection and any log that inspects the error prints too. The
 * connection emits the error right after rejecting the commands it flushed with that same object, before any handler
 * of theirs runs: blanked here, it reaches none of them with the password.
 */
export function redactCredentials(err: Error & { command?: { name?: unknown; args?: unknown } }): void {
  const command = err.command;
  if (
    command !== undefined &&
    typeof command.name === 'string' &&
    ['auth', 'hello'].includes(command.name.toLowerCase()) &&
    Array.isArray(command.args)
  ) {
    command.args = command.args.map(() => '<redacted>');
  }
}
