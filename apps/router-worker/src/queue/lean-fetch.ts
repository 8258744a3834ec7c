import { type Job, type JobJsonRaw, type RedisClient, Worker } from 'bullmq';

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
 * The script is BullMQ's own text with its last lines replaced, edited in memory before any connection
 * loads it. If BullMQ's text no longer has those lines, nothing is changed and `leanFetchScript()` says so
 * (a spec pins the installed version's text: an upgrade that moves them fails CI, not the saving silently).
 */

interface BullScript {
  name: string;
  content: string;
  keys: number;
}

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

/** Rewrites a moveToActive script's text; null when the expected lines are not there exactly once. */
export function withLeanTail(content: string): string | null {
  if (content.includes(LEAN_TAIL)) {
    return content;
  }
  const at = content.indexOf(STOCK_TAIL);
  if (at < 0 || content.indexOf(STOCK_TAIL, at + 1) >= 0) {
    return null;
  }
  return content.slice(0, at) + LEAN_TAIL + content.slice(at + STOCK_TAIL.length);
}

/**
 * Installs the lean script in this process (idempotent). Must run before the first BullMQ connection is made
 * (a connection loads its scripts once). Returns whether the script now has it.
 */
export function leanFetchScript(): boolean {
  const script = bullMoveToActive();
  const patched = withLeanTail(script.content);
  if (patched === null) {
    return false;
  }
  script.content = patched;
  return true;
}

/**
 * Work to start at the moment a woken worker asks for its job, in the same turn as the fetch (see
 * `LeanWorker.onWake`): returns what to do with the job it got, or null when there is nothing to start.
 */
export type WakeHook<D> = () => ((job: Job<D>) => void) | null;

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
 * the main loop as it asks for its next jobs. Each is BullMQ's own script and lock, so a prefetched job is an active
 * job like any other. Its lock is not extended until the loop starts it, so one the loop has not asked for within
 * PREFETCH_HOLD_MS (its slots filled by jobs that came otherwise) or never will (the worker paused to stop) goes
 * back to the head of the queue (`releasePrefetched`) long before its lock could lapse; one held by a process that
 * died is taken over as stalled when its lock lapses, like a running job.
 */
export class LeanWorker<D = unknown, R = unknown, N extends string = string> extends Worker<D, R, N> {
  /**
   * Called when the worker was idle (blocked on the marker) and now fetches a job: what the job's first step will
   * read from Redis can be asked for in the same turn as the fetch, so that both travel in one round trip instead
   * of two in a row. Not called for fetches while busy (the job then waits in the queue anyway).
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

  protected override async moveToActive(client: RedisClient, token: string, name?: string): Promise<Job<D, R, N>> {
    const ahead = this.prefetched.shift();
    if (ahead !== undefined) {
      if (this.prefetched.length === 0) {
        this.stopHold();
      }
      const job = await ahead;
      if (job && this.prefetched.length === 0 && this.left === 0) {
        // The last job sent ahead was the last one waiting: the next fetch blocks on the marker first.
        this.bull.drained = true;
      }
      // BullMQ's signature says Job, but its loop takes "no job" from this method too (a fetch that found none).
      return job as Job<D, R, N>;
    }
    // BullMQ's flag: true when this fetch follows a wait on the marker (its `_getNextJob`), false while busy.
    const woken = this.bull.drained;
    const started = woken && this.onWake !== null ? this.onWake() : null;
    this.left = 0;
    const job = await super.moveToActive(client, token, name);
    if (job) {
      if (started !== null) {
        started(job);
      }
      this.prefetch(client, token, name);
    }
    return job;
  }

  protected override async nextJobFromJobData(
    jobData?: JobJsonRaw,
    jobId?: string,
    token?: string,
  ): Promise<Job<D, R, N>> {
    const job = await super.nextJobFromJobData(jobData, jobId, token);
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
    // A prefetch starts with none left ahead: fetches of our own are made only then.
    const holdMs = Math.min(PREFETCH_HOLD_MS, (this.opts.lockDuration ?? PREFETCH_HOLD_MS * 2) / 2);
    this.holdTimer = setTimeout(() => {
      this.holdTimer = null;
      void this.releasePrefetched();
    }, holdMs);
    this.holdTimer.unref();
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
    const jobs = await Promise.all(this.prefetched.splice(0));
    // Each goes to the end of the wait list that jobs are taken from: the last first, so they keep their order.
    await Promise.all(
      jobs.reverse().map(async (job) => {
        if (job?.token === undefined) {
          return;
        }
        try {
          await job.moveToWait(job.token);
        } catch (err) {
          // Redis is away: the job stays locked until its lock lapses, then another worker takes it as stalled.
          this.report(err);
        }
      }),
    );
  }

  /**
   * BullMQ's private state this worker steers: `drained` is true when the wait list was found empty, and then the
   * next fetch first blocks on the marker (its `_getNextJob`).
   */
  private get bull(): { drained: boolean } {
    return this as unknown as { drained: boolean };
  }

  /** A failure of a fetch or release of its own, reported as BullMQ reports its fetches' (the `error` event). */
  private report(err: unknown): void {
    this.emit('error', err instanceof Error ? err : new Error(String(err)));
  }

  private stopHold(): void {
    if (this.holdTimer !== null) {
      clearTimeout(this.holdTimer);
      this.holdTimer = null;
    }
  }
}
