import type { ReplyMessage } from '@aigw/core';
import { inFlightNames, RedisKeys } from '@aigw/platform';
import { waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { GenerationQueue, type GenerateJob } from '../../apps/api-gateway/src/generation/generation-queue';
import type { JobSnapshot } from '../../apps/api-gateway/src/generation/job-snapshot';
import { ReplyHub } from '../../apps/api-gateway/src/generation/reply-hub';
import { chat, GatewayHarness, REDIS_URL, sleep, sseEvents } from './support';

/** A gateway and an admin connection to its Redis, for the life of the enclosing describe block. */
function gatewayWithAdmin(env: Record<string, string> = {}): { h: GatewayHarness; admin: () => Redis } {
  const h = new GatewayHarness(env);
  let admin: Redis | undefined;
  beforeAll(async () => {
    await h.start();
    admin = new Redis(REDIS_URL);
  }, 60_000);
  afterAll(async () => {
    await admin?.quit();
    await h.stop();
  }, 30_000);
  return { h, admin: () => admin as Redis };
}

/** Drops this gateway's own reply subscriber connection (found by its name): it reconnects and reads back. */
async function dropSubscriber(h: GatewayHarness, admin: Redis): Promise<void> {
  const line = String(await admin.client('LIST'))
    .split('\n')
    .find((l) => l.includes(` name=${h.prefix}:replies `));
  const id = /\bid=(\d+)/.exec(line ?? '')?.[1];
  expect(id).toBeDefined();
  await admin.client('KILL', 'ID', id ?? '');
}

/**
 * After the reply subscriber reconnects, every pending job is read back at once: messages published
 * during the drop are gone. The deadline (1.8 s) is shorter than the first regular read-back (2 s), so
 * only the read-back on reconnect can answer in time.
 */
describe('reply subscriber reconnect', () => {
  const { h, admin } = gatewayWithAdmin({ REQUEST_TIMEOUT_MS: '1800' });

  it('answers a request whose reply was lost from the stored result right after the reconnect', async () => {
    let jobId = '';
    h.handle((job) => {
      jobId = job.id ?? '';
      return h.answer(job, 'recovered', { publish: false });
    });
    const pending = h.post('/v1/chat/completions', chat('x'));
    // Completed: BullMQ removed the job, the worker kept its outcome.
    await waitFor(
      async () =>
        jobId !== '' &&
        (await admin().exists(h.outcomeKey(jobId))) === 1 &&
        (await h.queue.getJob(jobId)) === undefined,
      { message: 'job did not complete' },
    );
    await dropSubscriber(h, admin());
    const res = await pending;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { choices: { message: { content: string } }[] }).choices[0].message.content).toBe(
      'recovered',
    );
  });
});

/**
 * A final reply too big for pub/sub comes as `stored` once the worker kept the outcome (ADR 0001): the gateway reads
 * it at once, not on its read-back cadence (a message brings the next read-back to 1 s at the latest).
 */
describe('a `stored` reply', () => {
  const { h, admin } = gatewayWithAdmin();
  /** Well under the 1 s read-back, well over the few ms a read takes. */
  const AT_ONCE_MS = 700;

  it('answers a sync request from the kept outcome at once', async () => {
    h.handle(async (job) => {
      const outcome = await h.answer(job, 'from the outcome', { publish: false });
      // The harness keeps the outcome as the job completes: publish once it is there, as the worker does.
      void waitFor(async () => (await admin().exists(h.outcomeKey(job.id ?? ''))) === 1, {
        message: 'outcome not kept',
      }).then(() => {
        storedAt = Date.now();
        return h.publish(job, { t: 'stored', jobId: job.id ?? '' });
      });
      return outcome;
    });
    let storedAt = 0;
    const res = await h.post('/v1/chat/completions', chat('x'));
    expect(res.status).toBe(200);
    expect(Date.now() - storedAt).toBeLessThan(AT_ONCE_MS);
    expect(((await res.json()) as { choices: { message: { content: string } }[] }).choices[0].message.content).toBe(
      'from the outcome',
    );
  });

  it('completes a stream from the kept outcome at once', async () => {
    h.handle(async (job) => {
      const outcome = await h.answer(job, 'streamed whole', { publish: false });
      await h.publish(job, h.startMessage(job));
      void waitFor(async () => (await admin().exists(h.outcomeKey(job.id ?? ''))) === 1, {
        message: 'outcome not kept',
      }).then(() => {
        storedAt = Date.now();
        return h.publish(job, { t: 'stored', jobId: job.id ?? '' });
      });
      return outcome;
    });
    let storedAt = 0;
    const res = await h.post('/v1/chat/completions', chat('x', { stream: true }));
    expect(res.status).toBe(200);
    const { payloads } = await sseEvents(res);
    expect(Date.now() - storedAt).toBeLessThan(AT_ONCE_MS);
    expect(payloads.at(-1)).toBe('[DONE]');
    const text = payloads
      .slice(0, -1)
      .map((p) => (p as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ?? '')
      .join('');
    expect(text).toBe('streamed whole');
  });
});

/**
 * Redis restarted without its data: the read-back after the reconnect finds the job missing while the worker
 * holding its answer is still reconnecting. The answer that comes a moment later is the request's; only a job
 * missing for several seconds is lost, and then the answer is a retryable 503.
 */
describe('a job missing from Redis after a reconnect', () => {
  const { h, admin } = gatewayWithAdmin();

  /** Runs a request whose job is then wiped from Redis (job and kept outcome), as a restart without data does. */
  async function wiped(): Promise<{ pending: Promise<Response>; job: GenerateJob }> {
    let job: GenerateJob | null = null;
    h.handle((j) => {
      job = j;
      return Promise.resolve({ ok: true as const, result: h.result(j.data.request, 'held') });
    });
    const pending = h.post('/v1/chat/completions', chat('x'));
    await waitFor(async () => job !== null && (await h.queue.getJob(job.id ?? '')) === undefined, {
      message: 'job did not complete',
    });
    const done = job as unknown as GenerateJob;
    await admin().del(h.outcomeKey(done.id ?? ''));
    await dropSubscriber(h, admin());
    return { pending, job: done };
  }

  it('takes the answer the worker hands over after its own reconnect', async () => {
    const { pending, job } = await wiped();
    await sleep(1_000);
    await h.publish(job, { t: 'result', jobId: job.id ?? '', result: h.result(job.data.request, 'held') });
    const res = await pending;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { choices: { message: { content: string } }[] }).choices[0].message.content).toBe(
      'held',
    );
  });

  it('answers a job that stays missing with a retryable 503', async () => {
    const { pending } = await wiped();
    const res = await pending;
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('service_unavailable');
  }, 20_000);
});

/**
 * The read-back of a job still in the queue finds nothing to recover: a worker has not taken it, so no reply can have
 * been lost. In a backlog (a traffic spike, workers behind) every waiting request read its job back every second,
 * two Redis commands each: 2,000 requests queued for 16 s on average made ~48,000 reads. A job found still queued is
 * read again later and later (up to 8 s); one found taken is read on the usual cadence again.
 */
describe('read-backs of a job still in the queue', () => {
  const { h } = gatewayWithAdmin();

  it('back off while the job waits, and stop with its answer', async () => {
    const queue = h.app.get(GenerationQueue);
    // The hub's sweep is private: the test runs it once per virtual second instead of waiting for its timer.
    const hub: { sweep(): void } = h.app.get<ReplyHub, { sweep(): void }>(ReplyHub);
    const reads: Promise<unknown>[] = [];
    const snapshot = queue.snapshot.bind(queue);
    const spy = jest.spyOn(queue, 'snapshot').mockImplementation((jobId) => {
      const read = snapshot(jobId);
      reads.push(read);
      return read;
    });
    await h.queue.pause();
    let offset = 0;
    const now = Date.now.bind(Date);
    const clock = jest.spyOn(Date, 'now').mockImplementation(() => now() + offset);
    try {
      const pending = h.post('/v1/chat/completions', chat('queued for a while'));
      await waitFor(async () => (await h.queue.getJobs(['paused', 'waiting'])).length === 1, {
        message: 'job not queued',
      });
      // 60 s of queueing, a second at a time (well within the 120 s deadline).
      for (let s = 0; s < 60; s++) {
        offset += 1_000;
        hub.sweep();
        await Promise.allSettled(reads);
      }
      // Every second: ~58 reads. Backing off: at 2, 4, 8, 16, 24, ... 56 s.
      expect(reads.length).toBeLessThanOrEqual(10);
      expect(reads.length).toBeGreaterThanOrEqual(3);
      await h.queue.resume();
      expect((await pending).status).toBe(200);
    } finally {
      clock.mockRestore();
      spy.mockRestore();
      await h.queue.resume();
    }
  });
});

/** The hub's private parts these tests drive: its sweep (run once per virtual second) and its message entries. */
interface HubInternals {
  readonly pending: number;
  sweep(): void;
  checkAll(): void;
  receive(msg: ReplyMessage): void;
  mirror(channel: string, payload: string): void;
  awaitsWorker(): Promise<boolean>;
  readonly listening: Map<string, { nextCheckAt: number }>;
  readonly followers: Set<{ nextCheckAt: number }>;
}

/** Requests whose read-backs are scheduled: their job is stored, and a follower has replayed the job's log. */
function armed(hub: HubInternals): number {
  return [...hub.listening.values(), ...hub.followers].filter((w) => w.nextCheckAt !== Number.POSITIVE_INFINITY).length;
}

/**
 * Read-backs whose answer the test sets (`state`), counted, on a clock the test moves (`step`: one virtual second,
 * one sweep, its reads settled). The queue is paused: the real job stays queued, no worker answers it.
 */
function controlledReads(h: GatewayHarness): {
  hub: HubInternals;
  reads: () => number;
  setState: (s: JobSnapshot) => void;
  step: (seconds?: number) => Promise<void>;
  /** Waits for the reads out (ones the test started itself). */
  settle: () => Promise<unknown>;
  restore: () => Promise<void>;
} {
  const queue = h.app.get(GenerationQueue);
  const hub = h.app.get<ReplyHub, HubInternals>(ReplyHub);
  const reads: Promise<unknown>[] = [];
  let state: JobSnapshot = { state: 'queued' };
  const spy = jest.spyOn(queue, 'snapshot').mockImplementation(() => {
    const read = Promise.resolve(state);
    reads.push(read);
    return read;
  });
  let offset = 0;
  const now = Date.now.bind(Date);
  const clock = jest.spyOn(Date, 'now').mockImplementation(() => now() + offset);
  return {
    hub,
    reads: () => reads.length,
    setState: (s) => {
      state = s;
    },
    step: async (seconds = 1) => {
      for (let s = 0; s < seconds; s++) {
        offset += 1_000;
        hub.sweep();
        await Promise.allSettled(reads);
      }
    },
    settle: () => Promise.allSettled(reads),
    restore: async () => {
      clock.mockRestore();
      spy.mockRestore();
      await h.queue.resume();
    },
  };
}

/** The one job in the paused queue, once `count` requests watch it with their read-backs scheduled. */
async function queuedJob(h: GatewayHarness, count: number): Promise<GenerateJob> {
  let jobs: GenerateJob[] = [];
  await waitFor(
    async () => {
      jobs = await h.queue.getJobs(['paused', 'waiting']);
      const hub = h.app.get<ReplyHub, HubInternals>(ReplyHub);
      return jobs.length === 1 && hub.pending === count && armed(hub) === count;
    },
    { message: 'job not queued and watched' },
  );
  return jobs[0];
}

/** The stored state of `job` answered with `text`. */
function completed(h: GatewayHarness, job: GenerateJob, text = 'answered'): JobSnapshot {
  return { state: 'completed', outcome: { ok: true, result: h.result(job.data.request, text) } };
}

/** Virtual seconds until no request waits any more (at most `max`). */
async function secondsUntilAnswered(c: ReturnType<typeof controlledReads>, max: number): Promise<number> {
  for (let s = 1; s <= max; s++) {
    await c.step();
    if (c.hub.pending === 0) {
      return s;
    }
  }
  return Infinity;
}

/**
 * A message shows a worker took a queued job: from then on a lost final reply must be read back on the usual cadence
 * (~1 s), not at the next backed-off read (up to 8 s away), where a deadline in between answered 504 a job that was
 * answered and billed. A job back in the queue (a stalled worker's, moved back to wait) backs off again, and still
 * needs a worker.
 */
describe('read-backs of a queued job once a worker took it', () => {
  const { h } = gatewayWithAdmin({ CACHE_ENABLED: 'true' });

  it("reads the job back on the waiter's cadence after a message, not at the backed-off time", async () => {
    await h.queue.pause();
    const c = controlledReads(h);
    try {
      const pending = h.post('/v1/chat/completions', chat('taken after a while'));
      const job = await queuedJob(h, 1);
      // Read back at 2, 4, 8, 16 and 24 s: the next read is due at 32 s.
      await c.step(25);
      expect(c.reads()).toBe(5);
      // A worker takes the job (its `start` arrives), answers it, and its final reply is lost.
      c.hub.receive(h.startMessage(job));
      c.setState(completed(h, job));
      // Before: answered at 32 s, 7 s later.
      expect(await secondsUntilAnswered(c, 10)).toBeLessThanOrEqual(2);
      expect((await pending).status).toBe(200);
    } finally {
      await c.restore();
    }
  });

  it("reads a coalesced follower's job back on its cadence after a mirrored message", async () => {
    await h.queue.pause();
    const c = controlledReads(h);
    try {
      const pending = [h.post('/v1/chat/completions', chat('same')), h.post('/v1/chat/completions', chat('same'))];
      const job = await queuedJob(h, 2);
      await c.step(25);
      const keys = new RedisKeys(h.prefix);
      const names = inFlightNames(keys, job.data.coalescingKey ?? '', job.id ?? '');
      // The worker's `start` reaches the leader on its channel and the follower on the job's mirror.
      c.hub.receive(h.startMessage(job));
      c.hub.mirror(names.channel, JSON.stringify(h.startMessage(job)));
      c.setState(completed(h, job));
      // Before: the leader at ~26 s, the follower (never taken) at its backed-off read, 32 s.
      expect(await secondsUntilAnswered(c, 10)).toBeLessThanOrEqual(2);
      expect((await Promise.all(pending)).map((r) => r.status)).toEqual([200, 200]);
    } finally {
      await c.restore();
    }
  });

  it('backs off again, and awaits a worker, once a job a worker took is back in the queue', async () => {
    await h.queue.pause();
    const c = controlledReads(h);
    try {
      const pending = h.post('/v1/chat/completions', chat('moved back to wait'));
      const job = await queuedJob(h, 1);
      // Taken (read running at 2 s), then its worker stalls and the job goes back to wait.
      c.setState({ state: 'running' });
      await c.step(2);
      expect(c.reads()).toBe(1);
      c.setState({ state: 'queued' });
      await c.step(30);
      // Every second: 30 more reads (before). Backing off: at 3, 5, 9, 17 and 25 s.
      expect(c.reads()).toBeLessThanOrEqual(6);
      expect(await c.hub.awaitsWorker()).toBe(true);
      c.setState(completed(h, job));
      expect(await secondsUntilAnswered(c, 10)).toBeLessThanOrEqual(9);
      expect((await pending).status).toBe(200);
    } finally {
      await c.restore();
    }
  });
});

/**
 * The read-back of a job a worker runs is the safety net for a lost final reply and a worker that died; read every
 * second, a minute-long generation cost ~60 reads (two Redis commands each), 5,000 of them in flight ~5,000 reads a
 * second. Found running, it is read again after 1, 2, then 4 s (the cap); a lost final reply is read back at most
 * the cap late, and ~1 s late after a sign that messages were lost (a stream's gap, a subscriber reconnect).
 */
describe('read-backs of a job a worker runs', () => {
  const { h } = gatewayWithAdmin();

  /** A request whose job the read-backs find running (the real one stays paused in the queue). */
  async function running(
    c: ReturnType<typeof controlledReads>,
    body: Record<string, unknown>,
  ): Promise<{ pending: Promise<Response>; job: GenerateJob }> {
    await h.queue.pause();
    const pending = h.post('/v1/chat/completions', body);
    const job = await queuedJob(h, 1);
    c.setState({ state: 'running' });
    return { pending, job };
  }

  it('back off while the job runs, and a lost reply is read back within the cap', async () => {
    const c = controlledReads(h);
    try {
      const { pending, job } = await running(c, chat('a long generation'));
      // A minute of generation, no message (a non-streamed job gets only its answer).
      await c.step(60);
      // Every second: 59 reads (before). Backing off: at 2, 3, 5, 9, 13, ... 57 s.
      expect(c.reads()).toBeLessThanOrEqual(20);
      expect(c.reads()).toBeGreaterThanOrEqual(10);
      // It completes and its `result` is lost: the next read, at most 4 s away, answers it.
      c.setState(completed(h, job, 'late'));
      expect(await secondsUntilAnswered(c, 10)).toBeLessThanOrEqual(4);
      const res = await pending;
      expect(res.status).toBe(200);
      expect(((await res.json()) as { choices: { message: { content: string } }[] }).choices[0].message.content).toBe(
        'late',
      );
    } finally {
      await c.restore();
    }
  });

  it('reads a running job back once more before its deadline, past the back-off', async () => {
    const c = controlledReads(h);
    try {
      const { pending, job } = await running(c, chat('a generation near its deadline'));
      // Backed off to every 4 s (..., 113, 117 s): the next would come at 121 s, past the 120 s deadline.
      await c.step(117);
      // It completes and its `result` is lost: read back at 119 s (one cadence before the deadline), not a 504.
      c.setState(completed(h, job, 'in time'));
      await secondsUntilAnswered(c, 5);
      const res = await pending;
      expect(res.status).toBe(200);
    } finally {
      await c.restore();
    }
  });

  it('reads a running job back on the cadence again after a reconnect', async () => {
    const c = controlledReads(h);
    try {
      const { pending, job } = await running(c, chat('reconnected'));
      await c.step(30);
      const before = c.reads();
      // The subscriber reconnected: every job read back at once; its `result` was published meanwhile, after it.
      c.hub.checkAll();
      await c.settle();
      expect(c.reads()).toBe(before + 1);
      c.setState(completed(h, job));
      expect(await secondsUntilAnswered(c, 10)).toBe(1);
      expect((await pending).status).toBe(200);
    } finally {
      await c.restore();
    }
  });

  it("reads a stream's job back on the cadence once a chunk came after a gap", async () => {
    const c = controlledReads(h);
    try {
      const { pending, job } = await running(c, chat('w0 w1 w2 w3', { stream: true }));
      const jobId = job.id ?? '';
      c.hub.receive(h.startMessage(job));
      const res = await pending;
      expect(res.status).toBe(200);
      // Chunks flow for 30 s: the read-backs back off meanwhile.
      c.hub.receive({ t: 'chunk', jobId, seq: 0, text: 'w0' });
      await c.step(30);
      expect(c.reads()).toBeLessThanOrEqual(12);
      c.hub.receive({ t: 'chunk', jobId, seq: 1, text: ' w1' });
      // Chunk 2 is lost, chunk 3 comes: so may the `end` be, which then comes only from the stored job.
      c.hub.receive({ t: 'chunk', jobId, seq: 3, text: ' w3' });
      c.setState(completed(h, job, 'w0 w1 w2 w3'));
      expect(await secondsUntilAnswered(c, 10)).toBe(1);
      const text = (await sseEvents(res)).payloads
        .map((p) => (p as { choices?: { delta?: { content?: string } }[] }).choices?.[0]?.delta?.content ?? '')
        .join('');
      expect(text).toBe('w0 w1 w2 w3');
    } finally {
      await c.restore();
    }
  });
});

/**
 * A reply the gateway cannot deliver (a worker of another version during a rolling upgrade sends a shape this one
 * does not read; a defect in an encoder): handing it to its waiter threw in the reply subscriber's message handler,
 * where nothing caught it, and the api-gateway process exited with every request it held. Now that request alone is
 * answered an error (its job abandoned), and the gateway serves the next one.
 */
describe('a reply its waiter cannot take', () => {
  const { h } = gatewayWithAdmin();

  it.each([
    ['a stream whose end has no result', true],
    ['a whole answer without its result', false],
  ])('%s: that request fails, the gateway carries on', async (_what, stream) => {
    h.handle(async (job) => {
      const jobId = job.id ?? '';
      if (stream) {
        await h.publish(job, h.startMessage(job));
        await h.publish(job, { t: 'chunks', jobId, seq: 0, pieces: null } as unknown as ReplyMessage);
      } else {
        await h.publish(job, { t: 'result', jobId, result: null } as unknown as ReplyMessage);
      }
      // The job itself ends as usual: its outcome kept, not published.
      return h.answer(job, 'kept', { publish: false });
    });
    const res = await h.post('/v1/chat/completions', { ...chat('undeliverable'), stream });
    if (stream) {
      const { payloads } = await sseEvents(res);
      expect(JSON.stringify(payloads)).toContain('internal_error');
    } else {
      expect(res.status).toBe(500);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('internal_error');
    }
    h.handle((job) => h.answer(job, 'still here'));
    const next = await h.post('/v1/chat/completions', chat('after'));
    expect(next.status).toBe(200);
  });
});
