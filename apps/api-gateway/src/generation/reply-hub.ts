import { noop } from '@aigw/core';
import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import type { ReplyMessage } from '@aigw/core';
import {
  closeRedis,
  createRedis,
  describeError,
  ENV,
  LOCAL_REPLIES,
  REDIS,
  REDIS_USABLE,
  RedisErrors,
  RedisKeys,
  ShutdownState,
  shutdownBudget,
  type InFlightNames,
  type LocalReplies,
} from '@aigw/platform';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { GatewayEnv } from '../config/gateway-env';
import { GenerationQueue } from './generation-queue';
import { FollowerFeed } from './follower-feed';
import type { JobSnapshot } from './job-snapshot';
import type { ReplyWaiter } from './reply-waiter';

/** Followers of one coalesced job in this process, and the subscription to its mirrored replies. */
interface Following {
  /** Each follower's watch and the feed its mirrored replies go to. */
  feeds: Map<Watch, FollowerFeed>;
  subscribed: Promise<unknown>;
}

/** The hub's record of one waiter: when to read its job back, and whether a read is out. */
interface Watch {
  readonly waiter: ReplyWaiter;
  /** Epoch ms of the next fallback read; Infinity until the job is known to be in Redis. */
  nextCheckAt: number;
  checking: boolean;
  /** A `stored` message came while a read was out: that read may predate the outcome, so another follows it. */
  readAgain: boolean;
  /** Epoch ms of the first read-back that found the job missing, while every one since has; else null. */
  missingSince: number | null;
  /**
   * A worker took the job: a message came, or the last read-back found it past the queue. A read-back that finds it
   * queued again (a stalled worker's job moved back to wait) clears it, unless a message came while the read was out.
   */
  taken: boolean;
  /** Messages received for the job so far: a read-back tells by it whether one came while it was out. */
  messages: number;
  /**
   * Whether the job's messages come to this watch (its own job, a coalesced leader's mirror): then a job found still
   * queued, or running, is read back later and later (`queuedReads`, `runningReads`). A replay of another request's
   * job learns only by reading.
   */
  readonly backsOff: boolean;
  /** Read-backs in a row that found the job still queued. */
  queuedReads: number;
  /**
   * Read-backs in a row that found the job taken (run by a worker), since the last sign that a message may have been
   * lost (a subscriber reconnect, a failed read, a job found missing): a job found running is read later and later.
   */
  runningReads: number;
  /** Watching before its job is stored (enqueued): its request is still `arriving`. */
  early: boolean;
}

function watchOf(waiter: ReplyWaiter, backsOff: boolean): Watch {
  return {
    waiter,
    nextCheckAt: Number.POSITIVE_INFINITY,
    checking: false,
    readAgain: false,
    missingSince: null,
    taken: false,
    messages: 0,
    backsOff,
    queuedReads: 0,
    runningReads: 0,
    early: false,
  };
}

/**
 * The longest wait between read-backs of a job still in the queue. No worker took it, so no reply of it can have been
 * lost: reading it every second made a backlog cost two Redis commands per waiting request per second (2,000
 * requests queued behind a slow provider: ~48,000 reads, 24 per request). A job found queued is read again after
 * twice the last wait, up to this; once a message or a read shows a worker took it, on the waiter's cadence again
 * (`messageCame`), then backing off as `RUNNING_CHECK_MAX_MS` says.
 */
const QUEUED_CHECK_MAX_MS = 8_000;

/**
 * The longest wait between read-backs of a job a worker runs. Its read-back is the safety net for a final reply lost
 * without the hub noticing (a subscriber reconnect reads every job back at once, and resets this back-off), and for
 * a worker that died (its job moved back to wait by BullMQ's stall check, or failed). Read every second, a job cost
 * two Redis commands per second for its whole run: 5,000 minute-long requests in flight made ~10,000 commands/s.
 * The first read finding it taken schedules the next on the waiter's cadence, each further one twice the last wait,
 * up to this: a lost final reply is answered at most this (plus a sweep) late; ~1 s late once a stream showed a
 * lost message (`missedReplies`), after a reconnect, a failed read, or a job found missing.
 */
const RUNNING_CHECK_MAX_MS = 4_000;

/** When to read `w`'s job back next, from `now`. */
function nextCheckOf(w: Watch, now: number): number {
  const every = w.waiter.checkEveryMs;
  if (!w.backsOff) {
    return now + every;
  }
  if (w.queuedReads > 0) {
    return beforeDeadline(w, now, Math.min(every * 2 ** w.queuedReads, QUEUED_CHECK_MAX_MS));
  }
  if (w.runningReads > 1 && !w.waiter.missedReplies) {
    return beforeDeadline(w, now, Math.min(every * 2 ** (w.runningReads - 1), RUNNING_CHECK_MAX_MS));
  }
  return now + every;
}

/**
 * A backed-off read-back `delayMs` from `now`, brought forward to one cadence before the request's deadline: a job
 * whose final reply was lost a few seconds before it is still answered from the stored outcome, not with a 504.
 */
function beforeDeadline(w: Watch, now: number, delayMs: number): number {
  const every = w.waiter.checkEveryMs;
  return Math.max(now + every, Math.min(now + delayMs, w.waiter.deadlineAt - every));
}

/**
 * A message for `w`'s job came at `now`: a worker took it. When that is news, the back-off of a queued job ends: its
 * next read-back comes on the waiter's cadence (a lost final reply is read back ~1 s late, not up to 8 s). Before the
 * job is stored (no read-back scheduled yet), `arm` schedules the first one.
 */
function messageCame(w: Watch, now: number): void {
  w.messages++;
  if (!w.taken) {
    w.taken = true;
    w.queuedReads = 0;
    w.runningReads = 0;
    readSoon(w, now);
  }
}

/**
 * The waiter took a message (`receive`, `mirror`). One that shows an earlier one lost (a stream's gap) ends the
 * back-off of a running job: its final reply may be lost too, so it is read back on the waiter's cadence.
 */
function messageTaken(w: Watch, now: number): void {
  if (w.runningReads > 0 && w.waiter.missedReplies) {
    w.runningReads = 0;
    readSoon(w, now);
  }
}

/** The next read-back of `w`'s job comes on the waiter's cadence at the latest, if one is scheduled. */
function readSoon(w: Watch, now: number): void {
  if (w.nextCheckAt !== Number.POSITIVE_INFINITY) {
    w.nextCheckAt = Math.min(w.nextCheckAt, now + w.waiter.checkEveryMs);
  }
}

/**
 * How long a job must stay missing before its waiter is told it is lost. Redis restarted without its data: the
 * gateway's read-back after the reconnect finds nothing, while the worker that holds the answer is reconnecting
 * too and hands it over a moment later (it was answered 500 "lost" before, though delivered and billed).
 */
const MISSING_CONFIRM_MS = 5_000;

/** Granularity of deadlines and fallback reads: one timer for all waiters instead of one per request. */
const SWEEP_MS = 100;

/**
 * This instance's reply channel and everyone in the process waiting on it. One subscriber connection
 * receives the workers' ReplyMessages and routes them by job id. Pub/sub is best effort, so every
 * waiter is also swept: past its deadline it is expired, and on its cadence the stored job is read
 * back (the job's return value is the durable answer). After the subscriber reconnects, every
 * pending job is read back at once, since messages published during the drop are gone.
 *
 * Followers of a coalesced job (ADR 0007) are fed from the job's mirror instead: its channel, subscribed once per
 * job in this process, and its log, replayed first so that a late joiner gets the stream from its start.
 *
 * When a router-worker shares this process (ADR 0010), the channel is also registered in LocalReplies: that worker
 * hands its replies to `receive` in memory instead of publishing them; workers elsewhere still publish.
 *
 * A waiter is watched one of three ways, each one call that does every step in its order: `watchEnqueued` (the
 * request enqueues the job), `watchStored` (a replay of a stored job), `follow` (a coalesced follower). The hub keeps
 * its own record of each watch; the waiter ends it when it finishes, whatever way it finishes.
 */
@Injectable()
export class ReplyHub implements OnModuleInit, BeforeApplicationShutdown, OnApplicationShutdown {
  readonly channel: string;
  private readonly logger = new Logger(ReplyHub.name);
  private readonly subscriber: Redis;
  /** Waiters that receive this channel's messages, by job id (at most one per job in a process). */
  private readonly listening = new Map<string, Watch>();
  /** Waiters on somebody else's job (idempotent retries): they only read the stored job. */
  private readonly polling = new Set<Watch>();
  /** Followers of coalesced jobs, by the job's mirror channel. */
  private readonly following = new Map<string, Following>();
  private readonly followers = new Set<Watch>();
  private sweeper?: NodeJS.Timeout;
  private graceTimer?: NodeJS.Timeout;
  private subscribed = false;
  private unregisterLocal?: () => void;
  /** Requests on their way to a job (admitted, not yet watching one): see `arriving`. */
  private arrivals = 0;
  /** Watches whose request is still counted in `arrivals` (see `held`). */
  private earlyWatches = 0;

  constructor(
    @Inject(ENV) private readonly env: GatewayEnv,
    keys: RedisKeys,
    private readonly queue: GenerationQueue,
    private readonly errors: RedisErrors,
    private readonly shutdown: ShutdownState,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(LOCAL_REPLIES) private readonly local: LocalReplies | null,
  ) {
    this.channel = keys.replyChannel(randomUUID());
    this.subscriber = createRedis(env.REDIS_URL, `${env.REDIS_PREFIX}:replies`, errors, { subscriber: true });
  }

  async onModuleInit(): Promise<void> {
    this.subscriber.on('message', (channel: string, payload: string) =>
      channel === this.channel ? this.route(payload) : this.mirror(channel, payload),
    );
    // Not `ready`: a subscriber turns ready before Redis accepted its login, on every attempt it then refuses. Its
    // first connection may be confirmed before this runs (the constructor opened it) or after SUBSCRIBE's answer.
    // Closed (Redis dropped it: its unread replies passed `client-output-buffer-limit pubsub`; a silent network; a
    // restart): what is published until it is back is lost. Said at the close, before any reply of the reconnection.
    this.subscriber.on('close', () => {
      for (const w of [...this.listening.values(), ...this.polling, ...this.followers]) {
        w.waiter.repliesMayBeLost();
      }
    });
    this.subscriber.on(REDIS_USABLE, (reconnected: boolean) => {
      if (reconnected && this.subscribed) {
        this.logger.log('reply subscriber reconnected; reading back every pending job');
        void this.resubscribe().then(() => this.checkAll());
      }
    });
    await this.subscriber.subscribe(this.channel);
    this.subscribed = true;
    this.unregisterLocal = this.local?.register(this.channel, this.receive);
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  /**
   * In-flight requests get the drain part of SHUTDOWN_GRACE_MS to finish while Nest closes the HTTP
   * server (which waits for them); whatever still waits after that is answered 503 so the server can
   * close, and the process exits non-zero (it gave up on those requests).
   */
  beforeApplicationShutdown(): void {
    this.graceTimer = setTimeout(() => this.failAll(), shutdownBudget(this.env.SHUTDOWN_GRACE_MS).drainMs);
    this.graceTimer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearTimeout(this.graceTimer);
    clearInterval(this.sweeper);
    this.unregisterLocal?.();
    this.failAll();
    await closeRedis(this.subscriber);
  }

  /**
   * Watches the job `waiter` waits for while `enqueue` puts it in Redis (with this hub's channel as its reply
   * channel). Its messages are routed to the waiter from before the add, since a fast worker may answer before `add`
   * returns; the fallback read-backs start once the job is stored. If `enqueue` fails, the waiter is dropped without
   * an answer or a cancel (no job was queued) and the error is rethrown.
   *
   * The request waits for the add only while its waiter does: the deadline, its client leaving or shutdown end the
   * wait with the add still in flight (a stalled Redis holds it until the socket timeout, and ioredis then sends it
   * again), and the request is answered (504, nothing, 503) and no longer counted as pending or arriving. Before, it
   * waited for the add however long that took, its answer written only then. The abandon waits for the add instead
   * (`holdAbandon`): a job stored after its request gave up is cancelled and removed as soon as it exists, its
   * reservation given back, rather than run for nobody. Nothing more on the normal path: no timer, no Redis call.
   */
  async watchEnqueued(waiter: ReplyWaiter, enqueue: () => Promise<unknown>): Promise<void> {
    const watch = this.early(watchOf(waiter, true));
    this.listening.set(waiter.jobId, watch);
    let ended: (stored: false) => void = noop;
    const over = new Promise<false>((resolve) => (ended = resolve));
    waiter.watchedBy(() => {
      this.settle(watch);
      if (this.listening.get(waiter.jobId) === watch) {
        this.listening.delete(waiter.jobId);
      }
      ended(false);
    });
    waiter.holdAbandon();
    const added = enqueue().then(
      () => {
        waiter.addSettled(true);
        return true as const;
      },
      (err: unknown) => {
        waiter.addSettled(false);
        throw err;
      },
    );
    let stored: boolean;
    try {
      stored = await Promise.race([added, over]);
    } catch (err) {
      waiter.discard();
      throw err;
    }
    if (!stored) {
      // The waiter ended first; a failure of the add still to come was handled by `enqueue` (refund, claims).
      added.catch(() => undefined);
      return;
    }
    this.arm(watch);
  }

  /**
   * Watches a stored job this request did not enqueue (an idempotent replay), from `snapshot`, just read: no messages
   * come here for it, only read-backs.
   */
  watchStored(waiter: ReplyWaiter, snapshot: JobSnapshot): void {
    const watch = watchOf(waiter, false);
    this.polling.add(watch);
    waiter.watchedBy(() => this.polling.delete(watch));
    this.arm(watch);
    waiter.onSnapshot(snapshot);
  }

  /**
   * Feeds `waiter` the mirrored replies of a coalesced job somebody else enqueued: subscribes to the job's channel
   * (once per job in this process), then replays the job's log, then relays what arrived meanwhile and what follows.
   * Reading the log after subscribing misses nothing (the worker appends before it publishes). The request does not
   * wait for those reads: the waiter is watched at once, its deadline and the read-backs of the stored job included
   * (the leader queues the job right after it leads; a read-back confirms a missing job only after
   * MISSING_CONFIRM_MS). A follower whose SUBSCRIBE or log read fails, or hangs (a subscriber waits out Redis
   * reconnections), is still answered from the stored job or with a 504 at its deadline. Before, its request waited
   * for those reads: while its subscriber was silent, no answer at all (its waiter left the job at the deadline, but
   * nobody wrote the 504), and it stayed counted as arriving (MAX_PENDING_REQUESTS, the drain).
   */
  follow(waiter: ReplyWaiter, names: InFlightNames): void {
    if (waiter.done) {
      // Its client left before it got here.
      return;
    }
    const feed = new FollowerFeed(waiter);
    let entry = this.following.get(names.channel);
    if (entry === undefined) {
      const subscribed = this.subscriber.subscribe(names.channel);
      entry = { feeds: new Map(), subscribed };
      this.following.set(names.channel, entry);
    }
    const { feeds, subscribed } = entry;
    const watch = watchOf(waiter, true);
    feeds.set(watch, feed);
    this.followers.add(watch);
    waiter.watchedBy(() => {
      this.followers.delete(watch);
      feeds.delete(watch);
      if (feeds.size === 0 && this.following.get(names.channel)?.feeds === feeds) {
        this.following.delete(names.channel);
        this.subscriber.unsubscribe(names.channel).catch((err: unknown) => this.errors.report('reply_read', err));
      }
    });
    this.arm(watch);
    void this.replayLog(feed, watch, subscribed, names);
  }

  /** Once subscribed to the job's mirror, its log, then the live messages held meanwhile; nothing when Redis failed. */
  private async replayLog(
    feed: FollowerFeed,
    watch: Watch,
    subscribed: Promise<unknown>,
    names: InFlightNames,
  ): Promise<void> {
    const { waiter } = watch;
    let backlog: string[] = [];
    try {
      await subscribed;
      if (!waiter.done) {
        backlog = await this.redis.lrange(names.log, 0, -1);
      }
    } catch (err) {
      this.errors.report('reply_read', err);
    }
    const log = backlog.flatMap((raw) => parseReply(raw) ?? []);
    feed.replay(log);
    if (!waiter.done && log.some((msg) => msg.t === 'stored')) {
      // The job's final reply was too big for pub/sub: its outcome is kept, read it now.
      this.readNow(watch);
    }
  }

  /** The job is in Redis: start the fallback read-backs on the waiter's cadence. */
  private arm(watch: Watch): void {
    this.settle(watch);
    watch.nextCheckAt = Date.now() + watch.waiter.firstCheckMs;
  }

  /** A watch that starts before its job is stored, while its request is still counted as arriving (`held`). */
  private early(watch: Watch): Watch {
    watch.early = true;
    this.earlyWatches++;
    return watch;
  }

  /** The watch's job is stored, or the watch ended: it no longer stands for a request counted as arriving. */
  private settle(watch: Watch): void {
    if (watch.early) {
      watch.early = false;
      this.earlyWatches--;
    }
  }

  get pending(): number {
    return this.listening.size + this.polling.size + this.followers.size;
  }

  /**
   * Sync and streamed requests this process holds: those on their way to a job (`arriving`) and those watching one,
   * each once: a request watches its job from before the job is stored while it still counts as arriving, so those
   * early watches are left out. (Between its job being stored and its `arrived()`, a few microtasks, a request counts
   * twice: the bound this guards, `PendingLimit`, can only err on the side of refusing.) Three map sizes and two
   * integers; each request adds an integer increment and decrement per count, nothing allocated.
   */
  get held(): number {
    return this.arrivals + this.pending - this.earlyWatches;
  }

  /**
   * Counts one request on its way to a job until the returned function is called (once is enough; more calls do
   * nothing). With `listening`, it tells whether this gateway still needs a worker to take a job (`awaitsWorker`).
   */
  arriving(): () => void {
    this.arrivals++;
    let arrived = false;
    return () => {
      if (!arrived) {
        arrived = true;
        this.arrivals--;
      }
    };
  }

  /**
   * Whether a request of this gateway still needs a worker to take its job: one is on its way to the queue, or a job
   * it enqueued is still queued. A job a message came for is taken; the others are read, oldest first (the queue
   * hands out the oldest first), up to the first still queued, and each is read again only until found taken. A
   * process hosting a worker beside this gateway keeps it taking jobs while this holds during the drain (ADR 0010).
   */
  async awaitsWorker(): Promise<boolean> {
    if (this.arrivals > 0) {
      return true;
    }
    for (const w of [...this.listening.values()]) {
      if (w.taken || w.waiter.done) {
        continue;
      }
      if ((await this.queue.snapshot(w.waiter.jobId)).state === 'queued') {
        return true;
      }
      w.taken = true;
    }
    return false;
  }

  private route(payload: string): void {
    const msg = this.parse(payload);
    if (msg !== null) {
      this.receive(msg);
    }
  }

  /**
   * A message on this channel, published or handed over in memory by a worker of this process. A waiter that throws
   * on it fails alone (`broke`): thrown here, in the subscriber's message handler, it ended the process.
   */
  private readonly receive = (msg: ReplyMessage): void => {
    const watch = this.listening.get(msg.jobId);
    if (watch !== undefined) {
      const now = Date.now();
      messageCame(watch, now);
      try {
        watch.waiter.onReply(msg);
      } catch (err) {
        this.broke(watch, err);
      }
      if (msg.t === 'stored') {
        this.readNow(watch);
      }
      messageTaken(watch, now);
    }
  };

  private mirror(channel: string, payload: string): void {
    const feeds = this.following.get(channel)?.feeds;
    const msg = feeds === undefined ? null : this.parse(payload);
    if (msg !== null) {
      const now = Date.now();
      for (const [watch, feed] of feeds ?? []) {
        messageCame(watch, now);
        try {
          if (msg.t === 'stored') {
            // Straight to the waiter (the feed may still hold messages until the log is read): it only marks the end
            // as kept, not lost, before the read it calls for comes back.
            watch.waiter.onReply(msg);
            this.readNow(watch);
          } else {
            feed.onReply(msg);
          }
        } catch (err) {
          this.broke(watch, err);
        }
        messageTaken(watch, now);
      }
    }
  }

  /** A waiter threw on what it was handed: logged, and its request answered 500 (`ReplyWaiter.broke`). */
  private broke(w: Watch, err: unknown): void {
    this.logger.error(`job ${w.waiter.jobId}: a reply could not be delivered: ${describeError(err)}`);
    w.waiter.broke();
  }

  private parse(payload: string): ReplyMessage | null {
    const msg = parseReply(payload);
    if (msg === null) {
      this.logger.warn('ignored a reply that is not JSON');
    }
    return msg;
  }

  private sweep(): void {
    const now = Date.now();
    for (const w of this.listening.values()) {
      this.tick(w, now);
    }
    for (const w of this.polling) {
      this.tick(w, now);
    }
    for (const w of this.followers) {
      this.tick(w, now);
    }
  }

  private tick(w: Watch, now: number): void {
    if (now >= w.waiter.deadlineAt) {
      w.waiter.onDeadline();
    } else if (!w.checking && now >= w.nextCheckAt) {
      this.readBack(w);
    }
  }

  /**
   * Subscribes again to this channel and the followed mirrors. ioredis subscribes again by itself after a plain drop,
   * but forgets its subscriptions when Redis refused a reconnection's login (a password rotated in Redis before the
   * apps): once the login was accepted again, the hub received nothing more and every answer waited for a read-back.
   * SUBSCRIBE to a channel already subscribed changes nothing.
   */
  private resubscribe(): Promise<unknown> {
    return this.subscriber
      .subscribe(this.channel, ...this.following.keys())
      .catch((err: unknown) => this.errors.report('reply_read', err));
  }

  /** After a reconnect: reads every stored job back now, and a running one again on the waiter's cadence. */
  private checkAll(): void {
    for (const w of [...this.listening.values(), ...this.polling, ...this.followers]) {
      w.runningReads = 0;
      if (!w.checking && w.nextCheckAt !== Number.POSITIVE_INFINITY) {
        this.readBack(w);
      }
    }
  }

  /**
   * The worker kept the job's outcome and published `stored` instead of a final reply too big for pub/sub: read it
   * now (one round trip, for those replies only), or right after the read already out.
   */
  private readNow(w: Watch): void {
    if (w.checking) {
      w.readAgain = true;
    } else {
      this.readBack(w);
    }
  }

  private readBack(w: Watch): void {
    const { waiter } = w;
    w.checking = true;
    const messages = w.messages;
    this.queue.snapshot(waiter.jobId).then(
      (snapshot) => {
        w.checking = false;
        if (w.readAgain) {
          w.readAgain = false;
          if (!waiter.done) {
            // Sent before the outcome was known to be kept: the next read finds it.
            this.readBack(w);
            return;
          }
        }
        const now = Date.now();
        // A message that came while the read was out means a worker took the job since.
        const queued = snapshot.state === 'queued' && w.messages === messages;
        w.queuedReads = queued ? w.queuedReads + 1 : 0;
        // Missing: Redis may have lost it, or a reconnect is under way; either way messages may be lost, read soon.
        w.runningReads = queued || snapshot.state === 'missing' ? 0 : w.runningReads + 1;
        w.nextCheckAt = nextCheckOf(w, now);
        if (snapshot.state === 'missing') {
          w.missingSince ??= now;
          if (now - w.missingSince < MISSING_CONFIRM_MS) {
            return;
          }
        } else {
          w.missingSince = null;
        }
        // Queued: back in the queue (a stalled worker's job moved back to wait), if it ever left it. Found queued
        // while a message came during the read: taken already (`messageCame`), and stays so.
        w.taken = !queued;
        if (!waiter.done) {
          try {
            waiter.onSnapshot(snapshot);
          } catch (err) {
            // Thrown in this callback, it was an unhandled rejection, which ends the process.
            this.broke(w, err);
          }
        }
      },
      (err: unknown) => {
        w.checking = false;
        w.readAgain = false;
        w.runningReads = 0;
        w.nextCheckAt = Date.now() + waiter.checkEveryMs;
        this.errors.report('reply_read', err);
      },
    );
  }

  private failAll(): void {
    // Requests still waiting for Redis before they watch a job (admission, the coalescing join, the Idempotency-Key
    // claim: `boundedByAnswer`) are answered 503 too, and stop counting as arriving, rather than at their deadline.
    const early = this.shutdown.endDrain();
    const waiting = [...this.listening.values(), ...this.polling, ...this.followers];
    if (waiting.length + early > 0) {
      this.shutdown.abandon(`${waiting.length + early} request(s) answered 503 at the end of the grace period`);
    }
    for (const w of waiting) {
      w.waiter.onShutdown();
    }
  }
}

function parseReply(payload: string): ReplyMessage | null {
  try {
    return JSON.parse(payload) as ReplyMessage;
  } catch {
    return null;
  }
}
