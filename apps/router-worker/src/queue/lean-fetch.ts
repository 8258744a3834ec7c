import { type Job, type JobJsonRaw, type RedisClient, Worker } from 'bullmq';
import { TurnCork, waitAtMost } from '@aigw/platform';
import type { Redis } from 'ioredis';

/*
 * BullMQ wakes idle workers with a "marker" in a sorted set they block on (BZPOPMIN). Its moveToActive
 * script re-adds that marker every time it hands out a job, whether or not another job is left, so that
 * a second worker wakes for a second job; and after taking a job a worker always asks for another at once.
 * When nothing is left, both are wasted: the worker asks once (a moveToActive script that finds nothing),
 * blocks, is woken at once by the marker its own job re-added, asks again (nothing again) and only then
 * blocks for real. Measured at one connection: 2.91 moveToActive and 2.05 BZPOPMIN per job, where one of
 * each does; four Redis round trips and two Lua runs per job, paid exactly when the gateway is lightly
 * loaded and latency is what counts.
 *
 * Here the script counts the jobs left to take (wait list + prioritized set) when it hands one out: it
 * re-adds the marker only when some are left, and returns the count beside the job's fields (`aigwLeft`).
 * LeanWorker then goes straight to blocking when none were left instead of asking again. Nothing else
 * changes: a job added later adds its own marker (addJob), so a worker that blocks right after wakes for
 * it; delayed jobs are promoted with theirs; under load jobs are left and the loop is BullMQ's own.
 *
 * The script also takes Redis's clock instead of the caller's for a fetch whose lock token ends in WAKE_TOKEN_SUFFIX:
 * such a fetch is sent when the worker blocks and runs when its wake-up is served (LeanWorker), so the caller's
 * `Date.now()` would stamp the job's `processedOn` too early and could leave a delayed job that came due meanwhile
 * unpromoted.
 *
 * The script is BullMQ's own text with two places edited (STOCK_HEAD, STOCK_TAIL), in memory before any connection
 * loads it. If BullMQ's text no longer has those lines, nothing is changed and `leanFetchScript()` says so
 * (a spec pins the installed version's text: an upgrade that moves them fails CI, not the saving silently).
 */

interface BullScript {
  name: string;
  content: string;
  keys: number;
}

/** Where moveToActive reads its options; ARGV[2] (the caller's timestamp) is first used after it. */
export const STOCK_HEAD = 'local opts = cmsgpack.unpack(ARGV[3])\n';

/** What a fetch's lock token ends with when it is sent ahead of its wake-up (see LeanWorker's wake fetch). */
export const WAKE_TOKEN_SUFFIX = ':wake';

export const LEAN_HEAD =
  STOCK_HEAD +
  '-- aigw: a fetch sent ahead of its wake-up runs when that is served: stamp the job with that time\n' +
  `if string.sub(opts["token"] or "", -${WAKE_TOKEN_SUFFIX.length}) == "${WAKE_TOKEN_SUFFIX}" then\n` +
  '  local now = rcall("TIME")\n' +
  '  ARGV[2] = string.format("%d", now[1] * 1000 + math.floor(now[2] / 1000))\n' +
  'end\n';

/** The end of moveToActive's prepareJobForProcessing: re-adds the marker unconditionally, returns the job. */
export const STOCK_TAIL =
  '  addBaseMarkerIfNeeded(markerKey, false)\n' +
  '  -- rate limit delay must be 0 in this case to prevent adding more delay\n' +
  '  -- when job that is moved to active needs to be processed\n' +
  '  return {rcall("HGETALL", jobKey), jobId, 0, 0} -- get job data';

/** KEYS[1] is the wait list and KEYS[3] the prioritized set in moveToActive-11. */
export const LEAN_TAIL =
  '  -- aigw: wake other workers only for a job left, and tell this one how many are left\n' +
  '  local left = rcall("LLEN", KEYS[1]) + rcall("ZCARD", KEYS[3])\n' +
  '  if left > 0 then\n' +
  '    addBaseMarkerIfNeeded(markerKey, false)\n' +
  '  end\n' +
  '  local data = rcall("HGETALL", jobKey)\n' +
  '  data[#data + 1] = "aigwLeft"\n' +
  '  data[#data + 1] = left\n' +
  '  return {data, jobId, 0, 0}';

/** The field the lean script adds to a job's fields: jobs left to take when it was handed out. */
const LEFT_FIELD = 'aigwLeft';

/** BullMQ's moveToActive script object, as its connections load it (one shared module instance). */
export function bullMoveToActive(): BullScript {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- BullMQ's script table has no public entry point; the object must be the one its connections read
  const scripts = require('bullmq/dist/cjs/scripts') as { moveToActive: BullScript };
  return scripts.moveToActive;
}

/** Rewrites a moveToActive script's text; null when the expected lines are not there exactly once each. */
export function withLeanScript(content: string): string | null {
  if (content.includes(LEAN_TAIL) && content.includes(LEAN_HEAD)) {
    return content;
  }
  const head = replaceOnce(content, STOCK_HEAD, LEAN_HEAD);
  return head === null ? null : replaceOnce(head, STOCK_TAIL, LEAN_TAIL);
}

function replaceOnce(content: string, stock: string, lean: string): string | null {
  const at = content.indexOf(stock);
  if (at < 0 || content.indexOf(stock, at + 1) >= 0) {
    return null;
  }
  return content.slice(0, at) + lean + content.slice(at + stock.length);
}

/**
 * Installs the lean script in this process (idempotent). Must run before the first BullMQ connection is made
 * (a connection loads its scripts once). Returns whether the script now has it.
 */
export function leanFetchScript(): boolean {
  const script = bullMoveToActive();
  const patched = withLeanScript(script.content);
  if (patched === null) {
    return false;
  }
  script.content = patched;
  return true;
}

/**
 * Reads to send behind an idle worker's wake fetch, on its blocking connection (see `LeanWorker.onWake`): they run
 * when the wake-up is served, right after the fetch. Returns what to do with the job the fetch got, or null when
 * there is nothing to start.
 */
export type WakeHook<D> = (connection: Redis) => ((job: Job<D>) => void) | null;

/** BullMQ's private members this worker steers (see `LeanWorker.bull`). */
interface BullInternals {
  drained: boolean;
  /** When the next delayed job is due (0: none known); the next wait blocks until then at most. */
  blockUntil: number;
  waitForJob(bclient: RedisClient, blockUntil: number): Promise<number>;
  /** Drops the blocking connection (pause, close, the wait's watchdog): `disconnect` then `reconnect`, or `close`. */
  blockingConnection: {
    disconnect(wait?: boolean): Promise<void>;
    close(force?: boolean): Promise<void>;
    readonly client: Promise<RedisClient>;
  };
}

/** A fetch sent behind the worker's BZPOPMIN. */
interface WakeFetch<J> {
  job: Promise<J | undefined>;
  /** Redis answered the fetch (with a job or none); false while it is out or when it failed. */
  fetched: boolean;
  /** The BZPOPMIN settled: the fetch's reply follows on the same connection. */
  served: boolean;
  started: ((job: J) => void) | null;
  /** The blocking connection's id in Redis (CLIENT ID), for CLIENT UNBLOCK; null when it could not be read. */
  clientId: Promise<number | null>;
  /** The fetch's job once it is known whether this worker may start it (see `LeanWorker.taken`). */
  taken?: Promise<J | undefined>;
}

/**
 * How long dropping the blocking connection waits for a wake fetch in flight to come back (see `LeanWorker.settleWake`).
 * Its reply is normally a round trip away; the bound only matters when Redis does not answer.
 */
export const WAKE_SETTLE_MS = 1_000;

/**
 * Jobs one fetch may ask for beyond its own when the lean script says more are waiting (see `LeanWorker.prefetch`).
 * Each is its own moveToActive run in Redis; they only share the write and the read.
 */
export const PREFETCH_MAX = 16;

/**
 * Jobs that must be left before a fetch asks for them ahead. A few jobs left are usually taken by the jobs that
 * complete meanwhile (BullMQ's moveToFinished fetches the next job in the same script, at no extra round trip):
 * fetched ahead instead, each costs a moveToActive of its own. Paired runs against no prefetch (`--extras paired`,
 * 0 ms provider): with no minimum, +3-5 % of the gateway side's CPU per request at 10 connections; with 4, +2 %;
 * with 8, none measurable, and still 7 % less at 100 connections.
 */
export const PREFETCH_MIN_LEFT = 8;

/**
 * How long jobs fetched ahead may wait for the loop (at most half the lock duration) before they go back to the
 * queue. The loop takes them in the same turns unless its slots filled meanwhile.
 */
export const PREFETCH_HOLD_MS = 1_000;

/**
 * A BullMQ Worker that blocks right after taking the last job waiting instead of asking for another first, and that
 * asks for the jobs it is told are waiting in one write instead of one round trip after another.
 *
 * BullMQ's main loop fetches one job at a time and awaits each fetch before the next ("in sequence"): a burst of n
 * jobs costs the worker n round trips in a row, each a socket write, a Redis wake-up and a turn of this process's
 * event loop, and the last job of the burst starts only after all of them. When a fetch comes back with a burst
 * left (`aigwLeft` ≥ PREFETCH_MIN_LEFT), this worker sends up to that many more moveToActive calls at once (each
 * with a lock token of its own, bounded by its free slots and PREFETCH_MAX), in one corked write, and hands them to
 * the main loop as it asks for its next jobs, which starts each before it fetches again (`startEachJob`). Each is
 * BullMQ's own script and lock, so a prefetched job is an active job like any other. Its lock is not extended until
 * the loop starts it, so one the loop has not asked for within PREFETCH_HOLD_MS (its slots filled by jobs that came
 * otherwise) or never will (the worker paused to stop) goes back to the head of the queue (`releasePrefetched`) long
 * before its lock could lapse; one held by a process that died is taken over as stalled when its lock lapses, like a
 * running job.
 *
 * An idle worker blocks in BZPOPMIN on the marker; BullMQ then asks for the job (moveToActive) once the wake-up
 * came back: a round trip after the wake-up, before the job can start. This worker sends that moveToActive (with a
 * lock token of its own, ending in WAKE_TOKEN_SUFFIX) and `onWake`'s reads right behind its BZPOPMIN on the
 * blocking connection, in one write. Redis runs what is pipelined behind a blocking command as soon as that is
 * served, so the job and the reads come back with the wake-up. The job is then handed to the loop like one fetched
 * ahead (and goes back to the queue like one, if the loop does not take it). When the block ends without a job
 * (timeout, a marker for a delayed job), the fetch finds nothing or a job that came due, and the loop goes on as
 * BullMQ's own.
 *
 * BullMQ drops the blocking connection to end a wait early (pause, close, its watchdog). A fetch whose wake-up Redis
 * served just before would then be lost with its reply, its job locked until the lock lapses (30 s) and then run as
 * stalled. So before the connection is dropped, a wait still blocked is ended with CLIENT UNBLOCK (as a timeout, sent
 * on the command connection), and the fetch's reply is awaited (WAKE_SETTLE_MS at most): a job it took goes back to
 * the head of the queue when the worker is pausing or closing, and to the loop otherwise. Only a Redis that stops
 * answering meanwhile still leaves a job to the stalled check.
 */
export class LeanWorker<D = unknown, R = unknown, N extends string = string> extends Worker<D, R, N> {
  /**
   * Called as the worker blocks for its next job: what that job's first step will read from Redis is sent behind the
   * wake fetch, on the blocking connection, and comes back with the job. Not called for fetches while busy (the job
   * then waits in the queue anyway).
   */
  onWake: WakeHook<D> | null = null;
  /** How many more jobs the worker may take now (its processor's free slots); no prefetch while unset. */
  freeSlots: () => number = () => 0;
  /** Called right before a prefetch's calls are sent, so that they leave in one socket write. */
  beforePrefetch: () => void = () => undefined;

  /** Fetches sent ahead, in the order they were sent (Redis answers them in that order). */
  private readonly prefetched: Promise<Job<D, R, N> | undefined>[] = [];
  /** Jobs left in the queue as the lean script counted them for the last job fetched (ahead or not). */
  private left = 0;
  /** Sends the jobs fetched ahead back to the queue if the loop has not taken them all in time. */
  private holdTimer: NodeJS.Timeout | null = null;
  /** The fetch sent behind the BZPOPMIN in progress. */
  private wake: WakeFetch<Job<D, R, N>> | null = null;
  /**
   * Set when a wake fetch found no job: the loop's fetch that follows its wait would find none either (a job added
   * since re-adds the marker, so the next wait returns at once), so it is answered without Redis. The next delayed
   * job's time from that fetch's reply, which BullMQ's own fetch would have set.
   */
  private emptyWakeUntil: number | null = null;
  /**
   * The job ahead is a wake fetch's: when it is handed out, the jobs it says are left are asked for as after a fetch
   * of the loop's own. Not after the last of a prefetch: what is left then is mostly taken by the completions'
   * moveToFinished at no extra script (measured: +0.08 moveToActive per request at c=100 without this distinction).
   */
  private prefetchAfterWake = false;
  private wakes = 0;
  /** Set when a job fetched ahead or with a wake-up is handed to the loop, which then starts it before fetching again. */
  private startNow = false;
  /** Blocking connections whose BZPOPMIN sends the wake fetch behind it. */
  private readonly watched = new WeakSet<object>();
  /** Each blocking socket's id in Redis, asked for once per socket with its first BZPOPMIN (a reconnect is another). */
  private readonly clientIds = new WeakMap<object, Promise<number | null>>();

  constructor(...args: ConstructorParameters<typeof Worker<D, R, N>>) {
    super(...args);
    this.startEachJob();
    // BullMQ declares waitForJob private; its loop calls it through `this`, so an own property takes its place.
    const wait = this.bull.waitForJob.bind(this);
    this.bull.waitForJob = (bclient, blockUntil) => this.waitWithFetch(bclient, blockUntil, wait);
    // Both ways BullMQ drops the blocking connection first let a wake fetch in flight come back (settleWake).
    const blocking = this.bull.blockingConnection;
    for (const method of ['disconnect', 'close'] as const) {
      const drop = blocking[method].bind(blocking);
      blocking[method] = async (flag?: boolean) => {
        await this.settleWake();
        return drop(flag);
      };
    }
  }

  protected override async moveToActive(client: RedisClient, token: string, name?: string): Promise<Job<D, R, N>> {
    const emptyUntil = this.emptyWakeUntil;
    if (emptyUntil !== null) {
      this.emptyWakeUntil = null;
      this.bull.blockUntil = emptyUntil;
      // "No job", as BullMQ's loop takes it from this method (see below).
      return undefined as unknown as Job<D, R, N>;
    }
    const ahead = this.prefetched.shift();
    if (ahead !== undefined) {
      if (this.prefetched.length === 0) {
        this.stopHold();
      }
      const job = await ahead;
      const afterWake = this.prefetchAfterWake;
      this.prefetchAfterWake = false;
      if (job && this.prefetched.length === 0) {
        if (this.left === 0) {
          // The last job taken ahead was the last one waiting: the next fetch blocks on the marker first.
          this.bull.drained = true;
        } else if (afterWake) {
          // A burst woke the worker: the jobs left are asked for as after a fetch of the loop's own.
          this.prefetch(client, token, name);
        }
      }
      this.startNow = job !== undefined;
      // BullMQ's signature says Job, but its loop takes "no job" from this method too (a fetch that found none).
      return job as Job<D, R, N>;
    }
    this.left = 0;
    const job = await super.moveToActive(client, token, name);
    if (job) {
      this.prefetch(client, token, name);
    }
    return job;
  }

  override processJob(
    job: Job<D, R, N>,
    token: string,
    fetchNextCallback?: () => boolean,
  ): Promise<void | Job<D, R, N>> {
    // The job starts now however the loop came to it: when it did not read `blockUntil` after the fetch (it was
    // waiting on other jobs meanwhile), a mark left set would make the next wait's deadline "now" and cost an empty
    // fetch.
    this.startNow = false;
    return super.processJob(job, token, fetchNextCallback);
  }

  /**
   * BullMQ's loop fetches jobs in sequence and starts none of them until the sequence ends (a fetch finds nothing, the
   * worker blocks, or `blockUntil` is set): the jobs of a burst fetched ahead would wait for the whole burst, then
   * reach the provider together and come back together while the core idles (ADR 0011, "A job in hand starts before
   * the loop fetches again", has the figures).
   *
   * The loop checks `blockUntil` right after each fetch it awaited and, when it is set, starts the job before fetching
   * again. So each job handed over from a fetch ahead or a wake fetch (`startNow`) makes the next read see it set,
   * once; every other read sees the real value. The loop's own fetches (a round trip each) do not set it, so jobs
   * arriving a few at a time still start in one turn whose writes leave together. Only the loop calls `moveToActive`
   * on this worker, and the mark is cleared when a job starts (`processJob`), so it cannot outlive the job it was set
   * for where the loop took that job without the check. Specs in test/worker/lean-fetch.test.ts pin both: an upgrade
   * of BullMQ that moves the check fails CI.
   */
  private startEachJob(): void {
    let blockUntil = this.bull.blockUntil;
    Object.defineProperty(this, 'blockUntil', {
      configurable: true,
      enumerable: true,
      get: (): number => {
        if (!this.startNow) {
          return blockUntil;
        }
        this.startNow = false;
        // Any past time: the loop only tests it for being set, and a job is in hand, so nothing waits on it.
        return blockUntil || 1;
      },
      set: (value: number) => {
        blockUntil = value;
      },
    });
  }

  protected override async nextJobFromJobData(
    jobData?: JobJsonRaw,
    jobId?: string,
    token?: string,
  ): Promise<Job<D, R, N>> {
    const job = await super.nextJobFromJobData(jobData, jobId, token);
    if (job) {
      // A job came some other way (a completion fetched it): what an empty wake-up said is stale.
      this.emptyWakeUntil = null;
    }
    const left = (jobData as Record<string, unknown> | undefined)?.[LEFT_FIELD];
    if (job && typeof left === 'number') {
      this.left = left;
    }
    if (this.prefetched.length > 0) {
      // Fetches sent ahead are still to be handed out: the loop must ask for them, not block on the marker.
      this.bull.drained = false;
    } else if (job && left === 0) {
      // The wait list was empty: the next fetch blocks on the marker first.
      this.bull.drained = true;
    }
    return job;
  }

  /** Sends the fetches for the jobs the last fetch said are left, as far as free slots allow. */
  private prefetch(client: RedisClient, token: string, name: string | undefined): void {
    if (this.left < PREFETCH_MIN_LEFT) {
      return;
    }
    const count = Math.min(this.left, PREFETCH_MAX, this.freeSlots() - 1 - this.prefetched.length);
    if (count <= 0 || this.closing || this.isPaused()) {
      return;
    }
    this.beforePrefetch();
    this.startHold();
    for (let i = 1; i <= count; i++) {
      this.prefetched.push(
        super.moveToActive(client, `${token}:${i}`, name).catch((err: unknown) => {
          // Lost with its reply: a job it moved is taken over as stalled once its lock lapses.
          this.report(err);
          return undefined;
        }),
      );
    }
  }

  /**
   * Puts the jobs fetched ahead that the main loop did not take back at the head of the queue (call once the worker
   * is paused, before closing it; also run when they waited PREFETCH_HOLD_MS): a worker takes them at once instead
   * of after their lock lapses.
   */
  async releasePrefetched(): Promise<void> {
    this.stopHold();
    this.prefetchAfterWake = false;
    const jobs = await Promise.all(this.prefetched.splice(0));
    // Each goes to the end of the wait list that jobs are taken from: the last first, so they keep their order.
    // Redis away: a job stays locked until its lock lapses, then another worker takes it as stalled.
    await Promise.all(jobs.reverse().map((job) => (job ? this.putBack(job) : Promise.resolve())));
  }

  /**
   * BullMQ's private state this worker steers: `drained` is true when the wait list was found empty, and then the
   * next fetch first blocks on the marker (its `_getNextJob`) in `waitForJob`.
   */
  private get bull(): BullInternals {
    return this as unknown as BullInternals;
  }

  /**
   * BullMQ's wait for the marker, with the wake fetch sent behind its BZPOPMIN; once the wait is over, the job that
   * fetch took (if any) is handed to the loop's next fetch.
   */
  private async waitWithFetch(
    bclient: RedisClient,
    blockUntil: number,
    wait: BullInternals['waitForJob'],
  ): Promise<number> {
    this.watch(bclient);
    this.emptyWakeUntil = null;
    const woke = await wait(bclient, blockUntil);
    const wake = this.wake;
    this.wake = null;
    if (wake === null) {
      return woke;
    }
    if (!wake.served) {
      // The wait ended without its BZPOPMIN (BullMQ's watchdog or close), which drops the connection: the fetch
      // fails with it. Should Redis still answer it, its job goes back.
      void wake.job.then((job) => (job ? this.putBack(job) : undefined));
      return woke;
    }
    const job = await this.taken(wake);
    if (job) {
      wake.started?.(job);
      // Handed to the loop's next fetch like a job fetched ahead (none are out: the worker only waits without any),
      // which must not block first (BullMQ may wait out a delayed job's marker).
      this.prefetched.push(Promise.resolve(job));
      this.prefetchAfterWake = true;
      this.bull.drained = false;
      this.startHold();
    } else if (wake.fetched) {
      // No job, or one that went back: the loop's fetch after this wait is answered without Redis.
      this.emptyWakeUntil = this.bull.blockUntil;
    }
    return woke;
  }

  /**
   * The wake fetch's job, if this worker may start it: one that came back while the worker is pausing or closing
   * goes back to the queue (once, whoever asks first: the wait or `settleWake`).
   */
  private taken(wake: WakeFetch<Job<D, R, N>>): Promise<Job<D, R, N> | undefined> {
    wake.taken ??= wake.job.then(async (job) => {
      if (job && (this.closing || this.isPaused())) {
        await this.putBack(job);
        return undefined;
      }
      return job;
    });
    return wake.taken;
  }

  /**
   * Called before BullMQ drops the blocking connection: a wait still blocked is ended (CLIENT UNBLOCK, as a timeout),
   * and the wake fetch's reply, which follows the wait's on that connection, is awaited instead of being lost with it.
   */
  private async settleWake(): Promise<void> {
    const wake = this.wake;
    if (wake === null || wake.fetched) {
      return;
    }
    const command = await this.client;
    if (command.status !== 'ready' || !('stream' in command)) {
      // Redis away: nothing would answer; the fetch fails with its connection as before.
      return;
    }
    // An ioredis connection, like the blocking one the fetch was sent on (see `watch`).
    const client = command as unknown as Redis;
    if (!wake.served) {
      void wake.clientId
        .then((id) => (id === null || wake.served ? 0 : client.client('UNBLOCK', id)))
        .catch((err: unknown) => this.report(err));
    }
    await waitAtMost(this.taken(wake), WAKE_SETTLE_MS);
  }

  /**
   * The Redis client id of the connection this worker blocks on for jobs (as CLIENT LIST shows it among the queue's
   * workers), once it has blocked; null before, or after a reconnect until it blocks again.
   */
  async blockingClientId(): Promise<number | null> {
    const socket = ((await this.bull.blockingConnection.client) as unknown as Redis).stream as object | undefined;
    const id = socket === undefined ? undefined : this.clientIds.get(socket);
    return id === undefined ? null : id;
  }

  /** Makes `bclient`'s BZPOPMIN send the wake fetch behind it (once per connection object). */
  private watch(bclient: RedisClient): void {
    if (this.watched.has(bclient) || !('stream' in bclient)) {
      return;
    }
    this.watched.add(bclient);
    // BullMQ's proxy of an ioredis connection (it has a socket): commands sent through either reach the same one.
    const connection = bclient as unknown as Redis;
    const cork = new TurnCork(connection);
    const bzpopmin = bclient.bzpopmin.bind(bclient) as (...args: unknown[]) => Promise<unknown>;
    (bclient as { bzpopmin: (...args: unknown[]) => Promise<unknown> }).bzpopmin = (...args) => {
      // BZPOPMIN, the fetch and the reads leave in one write (with CLIENT ID first on a new socket).
      cork.hold();
      const clientId = this.clientId(connection);
      const blocked = bzpopmin(...args);
      this.sendWakeFetch(bclient, connection, blocked, clientId);
      return blocked;
    };
  }

  /** The connection's id in Redis, asked for once per socket (on the connection itself, so it costs no round trip). */
  private clientId(connection: Redis): Promise<number | null> {
    const socket = connection.stream as object | undefined;
    if (socket === undefined) {
      return Promise.resolve(null);
    }
    let id = this.clientIds.get(socket);
    if (id === undefined) {
      id = connection.client('ID').then(Number, () => null);
      this.clientIds.set(socket, id);
    }
    return id;
  }

  private sendWakeFetch(
    bclient: RedisClient,
    connection: Redis,
    blocked: Promise<unknown>,
    clientId: Promise<number | null>,
  ): void {
    if (this.closing || this.isPaused()) {
      return;
    }
    const token = `${this.id}:${++this.wakes}${WAKE_TOKEN_SUFFIX}`;
    const wake: WakeFetch<Job<D, R, N>> = {
      job: super.moveToActive(bclient, token, this.opts.name).then(
        (job) => {
          wake.fetched = true;
          return job;
        },
        // Not reported: the loop's own fetch follows and reports its own failure.
        () => undefined,
      ),
      fetched: false,
      served: false,
      started: this.onWake?.(connection) ?? null,
      clientId,
    };
    const served = (): void => {
      wake.served = true;
    };
    blocked.then(served, served);
    this.wake = wake;
  }

  private async putBack(job: Job<D, R, N>): Promise<void> {
    if (job.token === undefined) {
      return;
    }
    try {
      await job.moveToWait(job.token);
    } catch (err) {
      this.report(err);
    }
  }

  /** A failure of a fetch or release of its own, reported as BullMQ reports its fetches' (the `error` event). */
  private report(err: unknown): void {
    this.emit('error', err instanceof Error ? err : new Error(String(err)));
  }

  /** Starts the hold on jobs handed to the loop later (PREFETCH_HOLD_MS, at most half the lock). */
  private startHold(): void {
    if (this.holdTimer !== null) {
      return;
    }
    const holdMs = Math.min(PREFETCH_HOLD_MS, (this.opts.lockDuration ?? PREFETCH_HOLD_MS * 2) / 2);
    this.holdTimer = setTimeout(() => {
      this.holdTimer = null;
      void this.releasePrefetched();
    }, holdMs);
    this.holdTimer.unref();
  }

  private stopHold(): void {
    if (this.holdTimer !== null) {
      clearTimeout(this.holdTimer);
      this.holdTimer = null;
    }
  }
}
