import { JobName, type UsageBatch, type UsageEvent } from '@aigw/core';
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

describe('UsageRecorder (group commit)', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('lets an event linger for others, then ships them in one job', async () => {
    jest.useFakeTimers();
    const { queues, adds, release } = fakeQueues();
    const recorder = new UsageRecorder(queues, { USAGE_LINGER_MS: 20 });
    const done = [recorder.record(event('a')), recorder.record(event('b'))];
    expect(adds).toHaveLength(0);
    jest.advanceTimersByTime(19);
    expect(adds).toHaveLength(0);
    jest.advanceTimersByTime(1);
    expect(adds.map((b) => b.events.map((e) => e.requestId))).toEqual([['a', 'b']]);
    release();
    await Promise.all(done);
  });

  it('ships a lone event at once and the ones finishing meanwhile together in the next job', async () => {
    const { queues, adds, release } = fakeQueues();
    const recorder = new UsageRecorder(queues, { USAGE_LINGER_MS: 0 });
    const first = recorder.record(event('a'));
    expect(adds.map((b) => b.events.map((e) => e.requestId))).toEqual([['a']]);
    const rest = [recorder.record(event('b')), recorder.record(event('c'))];
    expect(adds).toHaveLength(1);
    release();
    await first;
    await tick();
    expect(adds.map((b) => b.events.map((e) => e.requestId))).toEqual([['a'], ['b', 'c']]);
    release();
    await Promise.all(rest);
  });

  it('rejects exactly the events of a refused job and keeps shipping later ones', async () => {
    const { queues, adds, release } = fakeQueues();
    const recorder = new UsageRecorder(queues, { USAGE_LINGER_MS: 0 });
    const refused = recorder.record(event('a'));
    const later = recorder.record(event('b'));
    release(new Error('redis down'));
    await expect(refused).rejects.toThrow('redis down');
    await tick();
    expect(adds).toHaveLength(2);
    release();
    await expect(later).resolves.toBeUndefined();
  });
});
