import { JobName, USAGE_SHIP_AT_EVENTS, type UsageBatch, type UsageEvent } from '@aigw/core';
import { RedisErrors } from '@aigw/platform';
import { DrainDeadline } from '../lifecycle/drain-deadline';
import { RedisHandOffAbandoned } from '../lifecycle/redis-retry';
import type { WorkerQueues } from '../queue/worker-queues';
import { UsageRecorder } from './usage-recorder';

const event = (requestId: string): UsageEvent => ({ requestId }) as UsageEvent;

/** A usage queue whose adds complete when the test says so. */
function fakeQueues(): { queues: WorkerQueues; adds: UsageBatch[]; release: (err?: Error) => void } {
  const adds: UsageBatch[] = [];
  const pending: { resolve: () => void; reject: (e: Error) => void }[] = [];
  const usage = {
    add: (name: JobName, data: UsageBatch) => {
      expect(name).toBe(JobName.RecordUsage);
      adds.push(data);
      return new Promise<void>((resolve, reject) => pending.push({ resolve, reject }));
    },
  };
  const release = (err?: Error): void => {
    const next = pending.shift();
    if (!next) {
      throw new Error('no add in flight');
    }
    if (err) {
      next.reject(err);
    } else {
      next.resolve();
    }
  };
  return { queues: { usage } as unknown as WorkerQueues, adds, release };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A reporter that remembers what was reported, with a silent logger. */
function recordingErrors(): { errors: RedisErrors; ops: string[] } {
  const ops: string[] = [];
  const errors = new RedisErrors({ warn: () => undefined, log: () => undefined }, { inc: ({ op }) => ops.push(op) });
  return { errors, ops };
}

function recorder(queues: WorkerQueues, lingerMs: number, drain = new DrainDeadline()): UsageRecorder {
  return new UsageRecorder(queues, { USAGE_LINGER_MS: lingerMs }, recordingErrors().errors, drain);
}

describe('UsageRecorder (group commit)', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('lets an event linger for others, then ships them in one job', async () => {
    jest.useFakeTimers();
    const { queues, adds, release } = fakeQueues();
    const usage = recorder(queues, 20);
    const done = [usage.record(event('a')), usage.record(event('b'))];
    expect(adds).toHaveLength(0);
    jest.advanceTimersByTime(19);
    expect(adds).toHaveLength(0);
    jest.advanceTimersByTime(1);
    expect(adds.map((b) => b.events.map((e) => e.requestId))).toEqual([['a', 'b']]);
    release();
    await Promise.all(done);
  });

  it('ships as soon as USAGE_SHIP_AT_EVENTS have gathered, without waiting out the linger', async () => {
    jest.useFakeTimers();
    const { queues, adds, release } = fakeQueues();
    const usage = recorder(queues, 100);
    const ids = Array.from({ length: USAGE_SHIP_AT_EVENTS + 1 }, (_, i) => `e${i}`);
    const done = ids.slice(0, USAGE_SHIP_AT_EVENTS - 1).map((id) => usage.record(event(id)));
    expect(adds).toHaveLength(0);
    done.push(usage.record(event(ids[USAGE_SHIP_AT_EVENTS - 1])));
    expect(adds.map((b) => b.events.length)).toEqual([USAGE_SHIP_AT_EVENTS]);
    // The next one lingers again, for the full linger.
    done.push(usage.record(event(ids[USAGE_SHIP_AT_EVENTS])));
    release();
    await jest.advanceTimersByTimeAsync(99);
    expect(adds).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(adds.map((b) => b.events.map((e) => e.requestId))).toEqual([
      ids.slice(0, USAGE_SHIP_AT_EVENTS),
      [ids[USAGE_SHIP_AT_EVENTS]],
    ]);
    release();
    await Promise.all(done);
  });

  it('ships a lone event at once and the ones finishing meanwhile together in the next job', async () => {
    const { queues, adds, release } = fakeQueues();
    const usage = recorder(queues, 0);
    const first = usage.record(event('a'));
    expect(adds.map((b) => b.events.map((e) => e.requestId))).toEqual([['a']]);
    const rest = [usage.record(event('b')), usage.record(event('c'))];
    expect(adds).toHaveLength(1);
    release();
    await first;
    await tick();
    expect(adds.map((b) => b.events.map((e) => e.requestId))).toEqual([['a'], ['b', 'c']]);
    release();
    await Promise.all(rest);
  });

  it('keeps the events of a refused job, reports the error, and ships them (with later ones) once Redis takes them', async () => {
    jest.useFakeTimers();
    const { queues, adds, release } = fakeQueues();
    const { errors, ops } = recordingErrors();
    const usage = new UsageRecorder(queues, { USAGE_LINGER_MS: 0 }, errors, new DrainDeadline());
    let settled = 0;
    const refused = usage.record(event('a')).then(() => settled++);
    const later = usage.record(event('b')).then(() => settled++);
    release(new Error('Connection is closed.'));
    await jest.advanceTimersByTimeAsync(0);
    expect(ops).toEqual(['usage_enqueue']);
    expect(usage.pending).toBe(2);
    // Retried after a short backoff, both together, in order.
    await jest.advanceTimersByTimeAsync(99);
    expect(adds).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(adds.map((b) => b.events.map((e) => e.requestId))).toEqual([['a'], ['a', 'b']]);
    release(new Error('Connection is closed.'));
    await jest.advanceTimersByTimeAsync(0);
    // The second refusal waits longer.
    await jest.advanceTimersByTimeAsync(199);
    expect(adds).toHaveLength(2);
    await jest.advanceTimersByTimeAsync(1);
    expect(adds).toHaveLength(3);
    expect(settled).toBe(0);
    release();
    await Promise.all([refused, later]);
    expect(settled).toBe(2);
    expect(ops).toEqual(['usage_enqueue', 'usage_enqueue']);
  });

  it('gives up on what Redis still refuses when the shutdown grace runs out, and only then', async () => {
    jest.useFakeTimers();
    const { queues, release } = fakeQueues();
    const drain = new DrainDeadline();
    const usage = recorder(queues, 0, drain);
    const held = usage.record(event('a'));
    const outcome = held.then(
      () => 'stored',
      (err: unknown) => err,
    );
    release(new Error('Connection is closed.'));
    await jest.advanceTimersByTimeAsync(0);
    drain.pass();
    await expect(outcome).resolves.toBeInstanceOf(RedisHandOffAbandoned);
    await expect(usage.record(event('b'))).rejects.toBeInstanceOf(RedisHandOffAbandoned);
  });

  it('still ships lingering events at the shutdown deadline when Redis works', async () => {
    jest.useFakeTimers();
    const { queues, adds, release } = fakeQueues();
    const drain = new DrainDeadline();
    const usage = recorder(queues, 20, drain);
    const done = usage.record(event('a'));
    drain.pass();
    await jest.advanceTimersByTimeAsync(20);
    expect(adds).toHaveLength(1);
    release();
    await expect(done).resolves.toBeUndefined();
  });
});
