import { parseRedisUrl } from '@aigw/core';
import { Logger } from '@nestjs/common';
import { Redis, type RedisOptions } from 'ioredis';
import { redactCredentials, REDIS_USABLE, type RedisErrors } from './redis-errors';
import { isLoginRefusal } from './redis-unreachable';
import { refuseLateSends } from './late-send';
import { bindSocketTimeoutToItsSocket } from './socket-timeout-fix';
import { corkEveryCommand } from './turn-cork';
import { waitAtMost } from '../lifecycle/wait-at-most';

export const REDIS = Symbol('REDIS');

bindSocketTimeoutToItsSocket();
refuseLateSends();

/** Longest pause between reconnection attempts: the apps serve again within about this long of Redis' return. */
export const REDIS_MAX_RECONNECT_DELAY_MS = 1000;

/**
 * A connection with a command waiting and nothing received for this long is dead (a half-open network: a proxy or NAT
 * that stopped forwarding without closing): its socket is destroyed and ioredis reconnects and sends its unanswered
 * commands again. Above the longest wait of a healthy connection: BullMQ's BZPOPMIN blocks 10 s at most.
 */
export const REDIS_SOCKET_TIMEOUT_MS = 15_000;

/**
 * A subscriber waits without a command of its own, so nothing would ever time out on it: it PINGs this often (one
 * command per interval and connection, none while it is not ready), and a silent network then fails that PING.
 */
export const REDIS_SUBSCRIBER_PING_MS = 5_000;

export interface RedisConnectionRole {
  /** BullMQ workers must not fail commands while reconnecting: `maxRetriesPerRequest: null`. */
  blocking?: boolean;
  /**
   * Hold the connection's writes until the end of the event-loop turn (`corkEveryCommand`): the commands issued by
   * every callback of one turn leave in one socket write. Worth it on our own command connection. BullMQ's
   * connections cork where it matters (TurnCork at completion and add); ioredis auto-pipelining is not used: it
   * only merges one callback's commands, and builds each pipeline by copying every custom command of the connection
   * (BullMQ defines dozens of Lua scripts), which cost more than it saved (measured: ~17% of a worker's CPU).
   */
  corkPerTurn?: boolean;
  /**
   * Fail commands instead of waiting for Redis: none are queued while disconnected and each times out after
   * this long. For connections whose callers carry on without an answer (the response cache), and which hold no
   * job, lock or result: their failures do not count for `RedisErrors.mark`.
   */
  failFastMs?: number;
  /**
   * A connection that SUBSCRIBEs (the gateway's reply channel): it waits out a reconnection like a blocking one,
   * and has no ready check. ioredis 5 sends SUBSCRIBE at once while a new connection is still handshaking, and its
   * ready check (INFO) then fails client-side in subscriber mode: the connection is torn down and comes back
   * without that subscription, while `subscribe` has resolved (ioredis issue 2037, fixed in 6, which BullMQ's
   * pinned 5.x rules out). The check only waits for a loading Redis, which SUBSCRIBE does not need.
   */
  subscriber?: boolean;
  /** The variable `url` came from, for the message that stops the process when its database is refused. */
  variable?: string;
}

/**
 * Opens a connection for REDIS_URL (the db index is honoured), reporting its errors to `errors`: an ioredis
 * client without an error listener crashes the process on the first connection error, so there is no way to
 * create one without.
 */
export function createRedis(url: string, name: string, errors: RedisErrors, opts: RedisConnectionRole = {}): Redis {
  const conn = parseRedisUrl(url);
  // Attempts since the connection last worked: ioredis's own count restarts at every `ready`, which a subscriber's
  // refused login gives on every attempt (see `emitWhenUsable`), so it retried ten times a second.
  let attempts = 0;
  const options: RedisOptions = {
    ...conn,
    connectionName: name,
    maxRetriesPerRequest: opts.blocking === true || opts.subscriber === true ? null : 2,
    // Reconnect quickly, then back off to a second; never give up (Redis restarts must be survivable).
    retryStrategy: () => Math.min(50 * 2 ** ++attempts, REDIS_MAX_RECONNECT_DELAY_MS),
    socketTimeout: REDIS_SOCKET_TIMEOUT_MS,
    lazyConnect: false,
    ...(opts.subscriber === true ? { enableReadyCheck: false } : {}),
    ...(opts.failFastMs === undefined
      ? {}
      : { enableOfflineQueue: false, commandTimeout: opts.failFastMs, maxRetriesPerRequest: 0 }),
  };
  const client = new Redis(options);
  // When the connection can be used: a subscriber's `ready` comes before its login is answered (emitWhenUsable).
  const readyEvent = opts.subscriber === true ? REDIS_USABLE : 'ready';
  if (opts.subscriber === true) {
    emitWhenUsable(client);
  }
  client.on(readyEvent, () => {
    attempts = 0;
  });
  answerRefusedInfo(client);
  if (opts.corkPerTurn === true) {
    corkEveryCommand(client);
  }
  // First: its stop must come before the outage report, which would say the process carries on.
  stopOnRefusedDatabase(client, conn.db, opts.variable ?? 'REDIS_URL');
  // A fail-fast connection (the response cache's) holds no job, lock or result: RedisErrors.mark leaves it out.
  errors.watchConnection(client, name, {
    apart: opts.failFastMs !== undefined,
    readyEvent,
    variable: opts.variable ?? 'REDIS_URL',
  });
  if (opts.subscriber === true) {
    pingWhileOpen(client);
    handleResubscribeRejections(client);
  }
  return client;
}

/**
 * Emits REDIS_USABLE once a PING sent after `ready` is answered. A subscriber has no ready check, so ioredis turns it
 * ready right after connecting, before AUTH's answer: when Redis refuses the login (a password rotated in Redis before
 * the apps), `ready` came on every reconnection attempt, ten a second, and each one was taken for Redis' return (a
 * "Redis is back" in the log, the gateway reading back every pending job). The PING follows AUTH on the connection,
 * so its answer means AUTH was accepted. One PING at a time: one left waiting by a dropped attempt is sent again on
 * the next connection (a subscriber waits out reconnections) and confirms that one. Its argument tells a reconnection
 * from the first connection, which listeners attached after it came cannot tell by themselves.
 */
function emitWhenUsable(client: Redis): void {
  let confirming = false;
  let confirmedBefore = false;
  client.on('ready', () => {
    if (confirming) {
      return;
    }
    confirming = true;
    client.ping().then(
      () => {
        confirming = false;
        client.emit(REDIS_USABLE, confirmedBefore);
        confirmedBefore = true;
      },
      () => {
        // Refused or dropped: the connection's error event reports it, and the next `ready` tries again.
        confirming = false;
      },
    );
  });
}

/**
 * A subscriber has no ready check, so ioredis turns it ready as soon as it reconnects and sends its SUBSCRIBEs again
 * (and a SELECT) without waiting for AUTH, and without handling their promises: when AUTH is refused (a password
 * rotated in Redis before the apps), they reject with AUTH's error, unhandled, and the process crashed, Node
 * printing the error with the command it carried. The connection's error event reports the refusal; a caller that
 * awaits one of these commands still gets its rejection.
 */
function handleResubscribeRejections(client: Redis): void {
  const subscribe = client.subscribe.bind(client);
  const psubscribe = client.psubscribe.bind(client);
  const select = client.select.bind(client);
  const handled = <T>(promise: Promise<T>): Promise<T> => {
    promise.catch(() => undefined);
    return promise;
  };
  // ioredis types these as sets of overloads; each wrapper passes any of them on unchanged.
  client.subscribe = ((...args: Parameters<Redis['subscribe']>) => handled(subscribe(...args))) as Redis['subscribe'];
  client.psubscribe = ((...args: Parameters<Redis['psubscribe']>) =>
    handled(psubscribe(...args))) as Redis['psubscribe'];
  client.select = (...args: Parameters<Redis['select']>) => handled(select(...args));
}

/** Redis's refusal of a command the connection's ACL user may not run (`NOPERM ...`). */
export function isNoPermission(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOPERM');
}

/**
 * BullMQ runs a bare INFO on each of its connections as it opens (the server's version, and a warning about the
 * eviction policy), and a queue or worker whose INFO fails never opens: with an ACL user that may not run INFO, as
 * some managed Redis services hand out, every request was a 503 ("could not be queued") and workers took no job. On
 * such a server a bare INFO answers with the version HELLO gives (no policy: `checkEvictionPolicy` says it cannot be
 * checked), or empty when HELLO is refused too, as a server that names no version would: BullMQ then assumes its
 * minimum (5.0.0, blocking waits rounded up to whole seconds). The connections BullMQ duplicates from this one (a
 * worker's blocking connection) do the same. INFO with a section is left alone.
 * ioredis's ready check (INFO with only a callback) skips itself on such a server as it would anyway, without its
 * console line ("Skipping the ready check because INFO command fails ..."), printed outside the log format for every
 * connection at each (re)connection: `checkEvictionPolicy` says once that REDIS_URL's user may not run INFO.
 */
export function answerRefusedInfo(client: Redis): void {
  const info = client.info.bind(client);
  const versionOnly = async (): Promise<string> => {
    // RESP2's HELLO answers a flat list of fields and values: ['server', 'redis', 'version', '7.0.15', ...].
    const hello = await client.call('HELLO', '2').catch(() => null);
    const fields = Array.isArray(hello) ? hello.map(String) : [];
    const at = fields.indexOf('version');
    return at >= 0 && at + 1 < fields.length ? `# Server\r\nredis_version:${fields[at + 1]}\r\n` : '';
  };
  const bare = async (): Promise<string> => {
    try {
      return await info();
    } catch (err) {
      if (isNoPermission(err)) {
        return versionOnly();
      }
      throw err;
    }
  };
  // The ready check's form: its answer parsed as an empty INFO (no `loading` field: ready), as ioredis does on NOPERM.
  const readyCheck = (callback: (err: Error | null, res?: string) => void): Promise<void> =>
    info().then(
      (res) => callback(null, res),
      (err: Error) => (isNoPermission(err) ? callback(null, '') : callback(err)),
    );
  // ioredis types `info` as a set of overloads; this keeps every one and only changes the refusals of the bare call
  // and of the ready check.
  client.info = ((...args: Parameters<Redis['info']>) => {
    if (args.length === 0) {
      return bare();
    }
    const [only] = args;
    return args.length === 1 && typeof only === 'function' ? readyCheck(only) : info(...args);
  }) as Redis['info'];
  const duplicate = client.duplicate.bind(client);
  client.duplicate = (override?: Partial<RedisOptions>): Redis => {
    const copy = duplicate(override);
    answerRefusedInfo(copy);
    // BullMQ's own connections (a worker's blocking one) are not watched by RedisErrors: a refused AUTH's error
    // would carry the password to whatever prints it.
    copy.on('error', redactCredentials);
    return copy;
  };
}

/** The heartbeat of a subscriber (REDIS_SUBSCRIBER_PING_MS), until the connection is closed for good. */
export function pingWhileOpen(client: Redis): void {
  const timer = setInterval(() => {
    if (client.status === 'ready') {
      // A failure is the connection's to report (its error event); the socket timeout does the rest.
      client.ping().catch(() => undefined);
    }
  }, REDIS_SUBSCRIBER_PING_MS);
  timer.unref();
  client.once('end', () => clearInterval(timer));
}

/** What a process does when Redis refuses its database: it cannot work anywhere else, so it stops. */
function exitOnRefusedDatabase(message: string): void {
  new Logger('Redis').fatal(message);
  process.exit(1);
}

/**
 * Stops the process when Redis refuses to SELECT REDIS_URL's database index (one the server does not have: it has
 * `databases`, 16 unless configured). ioredis only emits that error and carries on in database 0, among the queues
 * and keys of whatever else uses it; nothing may run there. The refusal is the reply to the first command of each
 * connection, so it is handled before the connection turns ready and sends what waited in its offline queue (the
 * connection is dropped first all the same). This covers a start (every app refuses to) and a Redis restarted with
 * fewer databases; BullMQ's duplicated blocking connections have no such guard, but the process's own connections
 * reconnect to the same server and stop it.
 */
export function stopOnRefusedDatabase(
  client: Redis,
  db: number,
  variable: string,
  stop: (message: string) => void = exitOnRefusedDatabase,
): void {
  if (db === 0) {
    return;
  }
  client.on('error', (err: Error & { command?: { name?: string } }) => {
    // A SELECT refused because the login was (a wrong password or user: NOAUTH, after AUTH's WRONGPASS) says nothing
    // of the index; blaming it sent operators after the wrong variable part. That refusal is reported as a login's.
    if (err.command?.name !== 'select' || isLoginRefusal(err)) {
      return;
    }
    client.disconnect();
    stop(
      `${variable} selects database ${db}, which this Redis refuses (${err.message}): use an index it has ` +
        '(below its "databases" setting, 16 unless configured)',
    );
  });
}

/** How long a polite QUIT may take before the connection is simply dropped. */
const QUIT_TIMEOUT_MS = 1000;

/**
 * Closes a connection without ever hanging: QUIT when Redis is reachable (pending replies arrive first), a
 * plain disconnect when it is not. QUIT on a connection that is reconnecting would wait in the offline queue
 * for as long as Redis stays away, which is how a process used to ignore SIGTERM during an outage.
 */
export async function closeRedis(client: Redis): Promise<void> {
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  await waitAtMost(
    client.quit().then(
      () => undefined,
      () => undefined,
    ),
    QUIT_TIMEOUT_MS,
  );
  // Idempotent: a connection QUIT already ended stays ended.
  client.disconnect();
}

/** Key and channel names under the deployment's namespace. */
export class RedisKeys {
  constructor(readonly prefix: string) {}

  /** BullMQ prefix: a hash tag, so every key of every queue lands in one Redis Cluster slot. */
  get bullPrefix(): string {
    return `{${this.prefix}}`;
  }

  key(...parts: string[]): string {
    return `${this.prefix}:${parts.join(':')}`;
  }

  replyChannel(instanceId: string): string {
    return `${this.prefix}:reply:${instanceId}`;
  }

  /**
   * Workers draining out of the generation queue, by Redis client id, scored by when the mark lapses (ADR 0010):
   * written by `markWorkerLeaving`.
   */
  workersLeaving(): string {
    return this.key('generation', 'leaving');
  }

  /** Where a worker keeps a sync job's outcome for the gateway's read-back (`GenerateJobData.keepOutcomeMs`). */
  outcome(jobId: string): string {
    return this.key('outcome', jobId);
  }

  /**
   * Set (to the run's request id) while a job its client left is being stopped: an Idempotency-Key retry then runs it
   * again, not watches it, and a worker running it again after a stall aborts it at start.
   * `watched` is the other half of that handshake (a retry watching the job: it must not be stopped). Both hash-tag
   * the job id, so one script may take both on a Redis Cluster.
   */
  cancelled(jobId: string): string {
    return this.key('cancelled', `{${jobId}}`);
  }

  /** How many Idempotency-Key retries watch the job (each gives its watch back as it ends). */
  watched(jobId: string): string {
    return this.key('watched', `{${jobId}}`);
  }

  /**
   * Set (to its run's request id) when the client that enqueued the job left while retries watched it: the last of
   * them to leave stops it.
   */
  ownerLeft(jobId: string): string {
    return this.key('owner-left', `{${jobId}}`);
  }

  /** Set when the owner of an async job cancelled it (`POST /api/v1/ai/jobs/:id/cancel`), for the job's retention. */
  jobCancelled(jobId: string): string {
    return this.key('job-cancelled', `{${jobId}}`);
  }
}

/**
 * How long a leaving mark outlasts the drain it was set for: the worker's blocking connection closes only once its
 * jobs ended (or were aborted at the drain's end) and the queue closed. A mark outliving its connection matches
 * nobody (Redis never gives a client id twice) and lapses with the key.
 */
export const WORKER_LEAVING_MARGIN_MS = 5_000;

/**
 * Marks the worker Redis knows by client id `id` as leaving the generation queue for its drain of `drainMs` plus
 * WORKER_LEAVING_MARGIN_MS: a draining single process (ADR 0010) no longer counts it among the workers that stay.
 * Every process hosting a worker marks its own as it starts draining (a single process as its gateway starts
 * closing, a router-worker at SIGTERM), so that processes draining together count each other as gone. Lapsed marks
 * are swept on the way. One write (the commands are issued in one turn, ADR 0003); only at shutdown.
 */
export async function markWorkerLeaving(redis: Redis, keys: RedisKeys, id: number, drainMs: number): Promise<void> {
  const key = keys.workersLeaving();
  const ms = drainMs + WORKER_LEAVING_MARGIN_MS;
  const now = Date.now();
  await Promise.all([
    redis.zremrangebyscore(key, '-inf', now),
    redis.zadd(key, now + ms, String(id)),
    redis.pexpire(key, ms, 'NX'),
    redis.pexpire(key, ms, 'GT'),
  ]);
}

/**
 * Entries kept in each BullMQ queue's event stream (`<queue>:events`), trimmed approximately (whole stream nodes of
 * ~100 entries). Nothing in this system reads the stream (no `QueueEvents`: replies travel on the reply channels of
 * ADR 0001), so a short tail for an operator's `XREVRANGE` is enough; BullMQ's default keeps 10,000 entries, each
 * `completed` one with the job's whole return value. BullMQ 5 cannot switch the stream off: every job still appends
 * its events (added, waiting, active, completed), only their memory is bounded.
 */
export const QUEUE_EVENTS_MAX_LEN = 100;

/**
 * Options of every BullMQ Queue and Worker of this system: the deployment's hash-tagged prefix and the event stream
 * bound. Each Queue writes the bound into the queue's meta key when it opens (Lua scripts read it from there), so a
 * Queue opened without it would restore BullMQ's default for everyone: always build them with this.
 */
export function bullOptions(
  connection: Redis,
  keys: RedisKeys,
): { connection: Redis; prefix: string; streams: { events: { maxLen: number } } } {
  return { connection, prefix: keys.bullPrefix, streams: { events: { maxLen: QUEUE_EVENTS_MAX_LEN } } };
}
