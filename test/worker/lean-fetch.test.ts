import { JobName } from '@aigw/core';
import { openMonitor, waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import {
  bullMoveToActive,
  LEAN_HEAD,
  LEAN_TAIL,
  leanFetchScript,
  LeanWorker,
  STOCK_HEAD,
  STOCK_TAIL,
  withLeanScript,
} from '../../apps/router-worker/src/queue/lean-fetch';
import { anyOutcome as outcome, ConsumerRig, gatedConsumer, redisReads, runningConsumer } from './consumer-rig';
import { TcpProxy } from './tcp-proxy';

/** Jobs waiting for a hand-built worker (`handBuiltWorker`) unless its suite says otherwise. */
const HAND_BUILT_JOBS = 12;

/** Calls of one command since the last CONFIG RESETSTAT. */
async function calls(redis: Redis, command: string): Promise<number> {
  const info = await redis.info('commandstats');
  return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
}

/**
 * The worker's wake-up marker is re-added only when a job is left to take (wake-marker.ts). Each case runs on a Redis
 * of its own, so its command counts are the consumers' alone.
 */
describe('Lean fetch: one BZPOPMIN and one moveToActive per job when none is left', () => {
  it("applies to the installed BullMQ's moveToActive, once, and is idempotent", () => {
    const stock = bullMoveToActive().content.replace(LEAN_TAIL, STOCK_TAIL).replace(LEAN_HEAD, STOCK_HEAD);
    const patched = withLeanScript(stock);
    expect(stock.split(STOCK_TAIL)).toHaveLength(2);
    expect(stock.split(STOCK_HEAD)).toHaveLength(2);
    expect(patched).toContain(LEAN_TAIL);
    expect(patched).toContain(LEAN_HEAD);
    expect(patched).not.toContain(STOCK_TAIL);
    expect(withLeanScript(patched as string)).toBe(patched);
    expect(withLeanScript('return {0, 0, 0, 0}')).toBeNull();
  });

  describe('one consumer, jobs one at a time', () => {
    const rig = runningConsumer('wake', { concurrency: 10 });

    it('takes each job with one block and one script instead of waking itself and asking twice more', async () => {
      const N = 20;
      const completed = rig.key('completed');
      await waitFor(async () => (await calls(rig.admin, 'bzpopmin')) > 0, { message: 'consumer never blocked' });
      await rig.admin.config('RESETSTAT');
      for (let i = 0; i < N; i++) {
        await rig.queue.add(JobName.Generate, {}, { jobId: `j${i}` });
        // Polled with a plain command: the scripts Redis runs are counted below.
        await waitFor(async () => (await rig.admin.zscore(completed, `j${i}`)) !== null, {
          message: `job ${i} not completed`,
        });
        // The consumer is blocked again before the next job (its BZPOPMIN for this one has been called).
        await waitFor(async () => (await calls(rig.admin, 'bzpopmin')) >= i + 1, { message: 'consumer not blocked' });
      }
      // Stock BullMQ: 2 BZPOPMIN per job (the second returns at once, woken by the marker the job's own
      // moveToActive re-added) and 4 scripts (3 moveToActive, 2 of them finding nothing, and moveToFinished).
      // Here: one BZPOPMIN and two scripts per job.
      expect(await calls(rig.admin, 'bzpopmin')).toBeLessThanOrEqual(N + 1);
      // N addJob scripts are this test's own.
      expect((await calls(rig.admin, 'evalsha')) + (await calls(rig.admin, 'eval'))).toBeLessThanOrEqual(3 * N + 2);
      expect(await rig.admin.zcard(rig.key('marker'))).toBe(0);
    });
  });

  describe('two consumers, two jobs behind one marker', () => {
    const rig = new ConsumerRig('wake2');
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));

    beforeAll(async () => {
      await rig.start();
      for (let i = 0; i < 2; i++) {
        // A worker not woken by a marker would only look again after drainDelay (60 s here).
        rig.consumer(() => gate.then(() => outcome), { concurrency: 1, drainDelay: 60 }).start();
      }
    }, 30_000);

    afterAll(async () => {
      release();
      await rig.stop();
    });

    it('the job left wakes the second worker', async () => {
      await waitFor(async () => (await calls(rig.admin, 'bzpopmin')) >= 2, { message: 'consumers never blocked' });
      // Two jobs behind one marker: added while the queue is paused, then resumed (one script, one marker). The
      // worker that pops it takes one job; only the marker re-added for the job left wakes the other.
      await rig.queue.pause();
      await rig.queue.add(JobName.Generate, {}, { jobId: 'a' });
      await rig.queue.add(JobName.Generate, {}, { jobId: 'b' });
      await rig.queue.resume();
      await waitFor(async () => (await rig.queue.getActiveCount()) === 2, {
        timeoutMs: 20_000,
        message: 'the second worker was not woken for the job left',
      });
      release();
      await waitFor(async () => (await rig.queue.getCompletedCount()) === 2, { message: 'jobs not completed' });
    });
  });

  describe('onWake: work started with the fetch of an idle worker', () => {
    const rig = new ConsumerRig('onwake');
    const attached: string[] = [];
    let wakes = 0;

    beforeAll(async () => {
      await rig.start();
      rig
        .consumer(() => Promise.resolve(outcome), {
          concurrency: 10,
          onWake: () => {
            wakes++;
            return (job) => attached.push(job.id ?? '');
          },
        })
        .start();
    }, 30_000);

    afterAll(() => rig.stop());

    it('runs once per wait for a job and is handed the job that came with the wake-up', async () => {
      const completed = rig.key('completed');
      await waitFor(async () => (await calls(rig.admin, 'bzpopmin')) > 0, { message: 'consumer never blocked' });
      for (let i = 0; i < 5; i++) {
        await rig.queue.add(JobName.Generate, {}, { jobId: `w${i}` });
        await waitFor(async () => (await rig.admin.zscore(completed, `w${i}`)) !== null, {
          message: `job ${i} not completed`,
        });
      }
      expect(attached).toEqual(['w0', 'w1', 'w2', 'w3', 'w4']);
      // Called as the worker blocks: once before each job, and once more now, blocked for the next.
      await waitFor(() => wakes >= 6, { message: 'onWake not called for each wait' });
    });

    it('is not run for the fetches of a busy worker', async () => {
      const before = wakes;
      attached.length = 0;
      // Five jobs behind one marker: one wake-up, then four fetches while jobs are left.
      await rig.queue.pause();
      for (let i = 0; i < 5; i++) {
        await rig.queue.add(JobName.Generate, {}, { jobId: `b${i}` });
      }
      await rig.queue.resume();
      await waitFor(async () => (await rig.queue.getCompletedCount()) === 10, { message: 'jobs not completed' });
      // The marker re-added for the jobs left can wake this worker once more after it took them all: that fetch
      // finds nothing, and what it started is handed no job.
      expect(wakes - before).toBeLessThanOrEqual(2);
      expect(attached).toEqual(['b0']);
    });
  });
});

/**
 * A moveToActive script call as MONITOR logs it: EVALSHA (EVAL the first time on a connection), its 11 keys starting
 * with the wait and active lists.
 */
function isMoveToActive(args: string[]): boolean {
  return (
    /^eval(sha)?$/i.test(args[0] ?? '') &&
    args[2] === '11' &&
    /:wait$/.test(args[3] ?? '') &&
    /:active$/.test(args[4] ?? '')
  );
}

describe('Wake fetch: an idle worker gets its job with its wake-up', () => {
  describe('one consumer, jobs one at a time', () => {
    const rig = runningConsumer('wakefetch', { concurrency: 10 });

    it('sends the fetch behind its BZPOPMIN on the blocking connection, stamped when the wake-up is served', async () => {
      const completed = rig.key('completed');
      await waitFor(async () => (await calls(rig.admin, 'bzpopmin')) > 0, { message: 'consumer never blocked' });
      const monitor = await openMonitor(rig.admin);
      const seen: { source: string; args: string[] }[] = [];
      monitor.on('monitor', (_time: string, args: string[], source: string) => seen.push({ source, args }));
      try {
        for (let i = 0; i < 5; i++) {
          // The worker has waited a while when its job comes: a fetch stamped when it was sent would show it.
          await new Promise((resolve) => setTimeout(resolve, 200));
          await rig.queue.add(JobName.Generate, {}, { jobId: `f${i}` });
          await waitFor(async () => (await rig.admin.zscore(completed, `f${i}`)) !== null, {
            message: `job ${i} not completed`,
          });
          const job = await rig.queue.getJob(`f${i}`);
          expect(job?.processedOn).toBeGreaterThanOrEqual(job?.timestamp ?? Infinity);
        }
        // MONITOR's lines arrive after the commands' replies: wait for the last job's.
        await waitFor(() => seen.filter((c) => isMoveToActive(c.args)).length >= 5, {
          message: 'fetches not logged',
        });
      } finally {
        monitor.disconnect();
      }
      const blocking = new Set(seen.filter((c) => c.args[0]?.toLowerCase() === 'bzpopmin').map((c) => c.source));
      const fetches = seen.filter((c) => isMoveToActive(c.args));
      expect(blocking.size).toBe(1);
      // One fetch per job, each sent behind a BZPOPMIN: no round trip of the worker's own after a wake-up.
      expect(fetches).toHaveLength(5);
      expect(fetches.filter((c) => !blocking.has(c.source))).toEqual([]);
    });

    it('runs a delayed job once it is due, not when the idle wait (drainDelay, 5 s) times out', async () => {
      await rig.queue.add(JobName.Generate, {}, { jobId: 'late', delay: 400 });
      await waitFor(async () => (await rig.admin.zscore(rig.key('completed'), 'late')) !== null, {
        timeoutMs: 4_000,
        message: 'delayed job not run',
      });
      const job = await rig.queue.getJob('late');
      expect((job?.processedOn ?? 0) - (job?.timestamp ?? Infinity)).toBeGreaterThanOrEqual(400);
    });
  });

  describe('an idle worker whose waits time out', () => {
    const rig = runningConsumer('wakeidle', { concurrency: 10, drainDelay: 1 });

    it('asks Redis once per wait: the fetch that came back empty with the timeout is not asked again', async () => {
      await waitFor(async () => (await calls(rig.admin, 'bzpopmin')) > 0, { message: 'consumer never blocked' });
      await rig.admin.config('RESETSTAT');
      await waitFor(async () => (await calls(rig.admin, 'bzpopmin')) >= 4, {
        timeoutMs: 10_000,
        message: 'the waits did not time out',
      });
      // One wake fetch per wait, none after it (BullMQ's loop asks again after each timeout).
      expect(await calls(rig.admin, 'evalsha')).toBeLessThanOrEqual((await calls(rig.admin, 'bzpopmin')) + 1);
      await rig.queue.add(JobName.Generate, {}, { jobId: 'i0' });
      await waitFor(async () => (await rig.queue.getJobState('i0')) === 'completed', { message: 'job not run' });
    });
  });

  describe('reads sent behind the wait (onWake)', () => {
    const rig = new ConsumerRig('wakeread');
    const read: (string | null)[] = [];

    beforeAll(async () => {
      await rig.start();
      await rig.admin.set(rig.key('probe'), 'when it blocked');
      rig
        .consumer(() => Promise.resolve(outcome), {
          concurrency: 10,
          onWake: (via) => {
            // The read of the last wait fails as the consumer closes (its connection is dropped).
            const value = via.get(rig.key('probe')).catch(() => null);
            return (job) => void value.then((v) => read.push(`${job.id ?? ''}: ${v ?? ''}`));
          },
        })
        .start();
    }, 30_000);

    afterAll(() => rig.stop());

    it('run when the wake-up is served: they see what changed while the worker waited', async () => {
      await waitFor(async () => (await calls(rig.admin, 'bzpopmin')) > 0, { message: 'consumer never blocked' });
      await rig.admin.set(rig.key('probe'), 'when the job came');
      await rig.queue.add(JobName.Generate, {}, { jobId: 'r0' });
      await waitFor(() => read.length > 0, { message: 'read not handed to the job' });
      expect(read).toEqual(['r0: when the job came']);
    });
  });

  describe('a worker closed while it waits', () => {
    const rig = new ConsumerRig('wakeclose');

    beforeAll(() => rig.start(), 30_000);
    afterAll(() => rig.stop());

    it('takes no job with it: one added afterwards waits for the next worker', async () => {
      const first = rig.consumer(() => Promise.resolve(outcome), { concurrency: 10 });
      first.start();
      await waitFor(async () => (await calls(rig.admin, 'bzpopmin')) > 0, { message: 'consumer never blocked' });
      await first.close();
      await rig.queue.add(JobName.Generate, {}, { jobId: 'after' });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await rig.queue.getJobState('after')).toBe('waiting');
      rig.consumer(() => Promise.resolve(outcome), { concurrency: 10 }).start();
      await waitFor(async () => (await rig.queue.getJobState('after')) === 'completed', {
        message: 'the next worker did not take the job',
      });
    });
  });

  describe('a worker closed the instant its wake-up is served', () => {
    const rig = new ConsumerRig('wakerace');
    // Redis's replies reach the worker 300 ms late: its wake-up has been served, the fetch has run and locked the job,
    // and the reply is still on its way when the worker closes.
    let relay!: TcpProxy;

    beforeAll(async () => {
      await rig.start();
      relay = new TcpProxy('127.0.0.1', rig.server.port, 300);
      await relay.up();
    }, 30_000);

    afterAll(async () => {
      await rig.stop();
      await relay.down();
    });

    /** A started consumer that reaches Redis through the relay. */
    function behindRelay(): ReturnType<ConsumerRig['consumer']> {
      const consumer = rig.consumer(
        () => Promise.resolve(outcome),
        { concurrency: 10 },
        `redis://127.0.0.1:${relay.port}`,
      );
      consumer.start();
      return consumer;
    }

    it('ends a wait still blocked with CLIENT UNBLOCK before closing, and takes no job with it', async () => {
      const leaving = behindRelay();
      await waitFor(async () => /cmd=bzpopmin/.test(String(await rig.admin.client('LIST'))), {
        message: 'never blocked',
      });
      await rig.admin.config('RESETSTAT');
      await leaving.close();
      // The wait ended as a timeout, so the fetch behind it ran (finding nothing) and answered before the close.
      expect(await calls(rig.admin, 'client\\|unblock')).toBe(1);
      expect((await calls(rig.admin, 'evalsha')) + (await calls(rig.admin, 'eval'))).toBe(1);
      await rig.queue.add(JobName.Generate, {}, { jobId: 'later' });
      await new Promise((resolve) => setTimeout(resolve, 700));
      expect(await rig.queue.getJobState('later')).toBe('waiting');
    });

    it('puts the job its fetch took back at the head of the queue instead of leaving it locked', async () => {
      const leaving = behindRelay();
      await waitFor(async () => /cmd=bzpopmin/.test(String(await rig.admin.client('LIST'))), {
        message: 'never blocked',
      });
      await rig.queue.add(JobName.Generate, {}, { jobId: 'raced' });
      // The fetch ran in Redis (the job is active and locked by the worker) before the worker has read a byte of it.
      await waitFor(async () => (await rig.queue.getJobState('raced')) === 'active', { message: 'job never fetched' });
      await leaving.close();
      // Without the settle, the reply was dropped with the connection: the job stayed active, locked for 30 s.
      expect(await rig.queue.getJobState('raced')).toBe('waiting');
      expect(await rig.admin.exists(`${rig.key('raced')}:lock`)).toBe(0);
      rig.consumer(() => Promise.resolve(outcome), { concurrency: 10 }).start();
      await waitFor(async () => (await rig.queue.getJobState('raced')) === 'completed', {
        message: 'the next worker did not take the job',
      });
    });
  });
});

describe('Prefetch: the jobs a fetch is told are waiting are asked for in one write', () => {
  describe('a burst of jobs', () => {
    const N = 40;
    const { rig, consumer, release } = gatedConsumer('ahead', N);

    it('takes every job, each with one moveToActive, in a few writes instead of one round trip each', async () => {
      for (let i = 0; i < N; i++) {
        await rig.queue.add(JobName.Generate, {}, { jobId: `a${i}` });
      }
      await rig.admin.config('RESETSTAT');
      const before = await redisReads(rig);
      consumer().start();
      await waitFor(async () => (await rig.queue.getActiveCount()) === N, {
        intervalMs: 200,
        message: 'jobs not all taken',
      });
      // One fetch, then up to PREFETCH_MAX at once while at least PREFETCH_MIN_LEFT are left, the last few one at a
      // time: 40 jobs in about 9 fetch writes (plus the worker's start-up and the polls above; 14 measured). One at
      // a time, it was a write per job (43).
      expect((await redisReads(rig)) - before).toBeLessThan(N / 2);
      // Every fetch found a job: none was asked for twice, and none is waiting.
      expect(await calls(rig.admin, 'evalsha')).toBeLessThanOrEqual(N + 2);
      expect(await rig.queue.getWaitingCount()).toBe(0);
      release();
      await waitFor(async () => (await rig.queue.getCompletedCount()) === N, { message: 'jobs not all completed' });
    });
  });

  describe('bounded by the free slots', () => {
    const rig = new ConsumerRig('ahead_slots');
    let running = 0;
    let most = 0;

    beforeAll(async () => {
      await rig.start();
      rig
        .consumer(
          async () => {
            most = Math.max(most, ++running);
            await new Promise((resolve) => setTimeout(resolve, 20));
            running--;
            return outcome;
          },
          { concurrency: 5 },
        )
        .start();
    }, 30_000);

    afterAll(() => rig.stop());

    it('never runs more jobs at once than its concurrency, and leaves none behind', async () => {
      await rig.queue.pause();
      for (let i = 0; i < 30; i++) {
        await rig.queue.add(JobName.Generate, {}, { jobId: `s${i}` });
      }
      await rig.queue.resume();
      await waitFor(async () => (await rig.queue.getCompletedCount()) === 30, { message: 'jobs not all completed' });
      expect(most).toBe(5);
      expect(await rig.queue.getActiveCount()).toBe(0);
    });
  });

  describe('a worker paused with jobs fetched ahead', () => {
    const fixture = handBuiltWorker('ahead_release');

    it('puts the jobs its loop never took back at the head of the queue, where another worker takes them', async () => {
      const { rig } = fixture;
      const worker = await fixture.start('r', { concurrency: 10 });
      // Paused as its first fetch sends the others, before its loop asks for them.
      worker.beforePrefetch = () => void worker.pause(true);
      void worker.run();
      // The first fetch takes r0 and is told 11 are left: 9 more are fetched ahead (10 free slots, less r0's).
      await waitFor(async () => (await rig.queue.getActiveCount()) === 10, { message: 'jobs not fetched ahead' });
      await worker.releasePrefetched();
      // The first job runs (held by the gate); the nine fetched ahead are waiting again, in their order, first in
      // line (BullMQ takes from the right end of the wait list), ahead of the two never fetched.
      expect(await rig.queue.getActiveCount()).toBe(1);
      expect(await rig.admin.lrange(rig.key('wait'), 0, -1)).toEqual(newestFirst('r'));
    });
  });

  describe('jobs fetched ahead that the loop has no slot for', () => {
    const fixture = handBuiltWorker('ahead_hold');

    it('go back to the queue before their lock could lapse, and run once a slot frees', async () => {
      const { rig } = fixture;
      // One slot, held by the first job; the free slots are overstated, as completions that fetch their next job
      // can make them. Held at most half the lock (500 ms).
      const worker = await fixture.start('h', { concurrency: 1, lockDuration: 1_000 });
      void worker.run();
      await waitFor(async () => (await rig.queue.getActiveCount()) === 10, { message: 'jobs not fetched ahead' });
      await waitFor(async () => (await rig.queue.getActiveCount()) === 1, {
        timeoutMs: 5_000,
        message: 'jobs fetched ahead were not sent back',
      });
      expect(await rig.admin.lrange(rig.key('wait'), 0, -1)).toEqual(newestFirst('h'));
      fixture.release();
      await waitFor(async () => (await rig.queue.getCompletedCount()) === HAND_BUILT_JOBS, {
        message: 'jobs not all completed',
      });
      // None ran twice or was taken as stalled.
      expect(await rig.queue.getFailedCount()).toBe(0);
      const jobs = await rig.queue.getCompleted(0, -1);
      expect(jobs.every((j) => j.stalledCounter === 0)).toBe(true);
    });
  });
});

describe('A job fetched ahead starts as the loop takes it', () => {
  const N = 30;
  const fixture = handBuiltWorker('start_each', { jobs: N, slots: N });

  it('in a burst fetched ahead, instead of after the whole burst is fetched', async () => {
    // The jobs the loop was handed so far, as each job starts (counted by the fetch BullMQ's loop calls).
    let fetched = 0;
    const fetchedAtStart: number[] = [];
    const worker = await fixture.start('e', { concurrency: N }, () => fetchedAtStart.push(fetched));
    const fetch = worker['moveToActive'].bind(worker);
    worker['moveToActive'] = async (...args: Parameters<LeanWorker['moveToActive']>) => {
      const job = await fetch(...args);
      fetched += job ? 1 : 0;
      return job;
    };
    void worker.run();
    await waitFor(() => fetchedAtStart.length === N, { message: 'jobs not all started' });
    // The first fetch is told 29 are left and fetches 16 of them ahead, the 18th 12 more: each of those starts one fetch
    // later, as the loop takes the next one handed over (measured [2, 3, ..., 17, 19, ..., 30, 30, 30]). BullMQ's own
    // loop started none before it had fetched all 30 ([30, 30, ...]).
    const lateBy = fetchedAtStart.map((atStart, i) => atStart - (i + 1));
    expect(Math.max(...lateBy)).toBeLessThanOrEqual(2);
    fixture.release();
    await waitFor(async () => (await fixture.rig.queue.getCompletedCount()) === N, {
      message: 'jobs not all completed',
    });
    expect(await fixture.rig.queue.getFailedCount()).toBe(0);
  });
});

/** The waiting jobs but the first, as the wait list holds them: newest at the left, next to be taken at the right. */
function newestFirst(prefix: string): string[] {
  return Array.from({ length: HAND_BUILT_JOBS - 1 }, (_, i) => `${prefix}${HAND_BUILT_JOBS - 1 - i}`);
}

/**
 * A LeanWorker built by hand (not a QueueConsumer) on a Redis of its own, with `jobs` jobs waiting (HAND_BUILT_JOBS),
 * `slots` free slots claimed whatever its concurrency (ten), and a processor held until `release()` (`onStart` is
 * called as each job enters it).
 */
function handBuiltWorker(
  name: string,
  { jobs = HAND_BUILT_JOBS, slots = 10 }: { jobs?: number; slots?: number } = {},
): {
  rig: ConsumerRig;
  start(
    prefix: string,
    options: { concurrency: number; lockDuration?: number },
    onStart?: () => void,
  ): Promise<LeanWorker>;
  release(): void;
} {
  const rig = new ConsumerRig(name);
  let worker: LeanWorker | undefined;
  let connection: Redis | undefined;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));

  beforeAll(async () => {
    // The lean script counts the jobs left; a QueueConsumer installs it, this worker is built by hand.
    expect(leanFetchScript()).toBe(true);
    await rig.start();
  }, 30_000);

  afterAll(async () => {
    release();
    await worker?.close();
    connection?.disconnect();
    await rig.stop();
  });

  return {
    rig,
    release: () => release(),
    async start(prefix, options, onStart) {
      for (let i = 0; i < jobs; i++) {
        await rig.queue.add(JobName.Generate, {}, { jobId: `${prefix}${i}` });
      }
      connection = new Redis(rig.server.url, { maxRetriesPerRequest: null });
      worker = new LeanWorker(
        rig.queue.name,
        () => {
          onStart?.();
          return gate.then(() => outcome);
        },
        {
          ...options,
          connection,
          prefix: rig.keys.bullPrefix,
          autorun: false,
        },
      );
      worker.freeSlots = () => slots;
      return worker;
    },
  };
}
