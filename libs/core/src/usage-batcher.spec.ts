import type { UsageEvent } from './queues';
import { UsageBatcher, type BatchInserter } from './usage-batcher';

function event(i: number): UsageEvent {
  return { requestId: `req_${i}` } as UsageEvent;
}

/** An inserter whose calls the test settles by hand. */
class FakeInserter {
  readonly calls: { ids: string[]; resolve: (n: number) => void; reject: (e: unknown) => void }[] = [];
  readonly insert: BatchInserter = (events) =>
    new Promise<number>((resolve, reject) => {
      this.calls.push({ ids: events.map((e) => e.requestId), resolve, reject });
    });
}

describe('UsageBatcher', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('flushes a full batch at once, in one insert, and settles every add with it', async () => {
    const db = new FakeInserter();
    const written: number[] = [];
    const b = new UsageBatcher(db.insert, { maxBatch: 3, flushMs: 1000, onWritten: (n) => written.push(n) });
    const adds = [1, 2, 3].map((i) => b.add(event(i)));
    expect(db.calls.map((c) => c.ids)).toEqual([['req_1', 'req_2', 'req_3']]);
    db.calls[0].resolve(3);
    await expect(Promise.all(adds)).resolves.toEqual([undefined, undefined, undefined]);
    expect(written).toEqual([3]);
    expect(b.buffered).toBe(0);
  });

  it('flushes a partial batch after flushMs, timed from its first event', async () => {
    const db = new FakeInserter();
    const b = new UsageBatcher(db.insert, { maxBatch: 10, flushMs: 50 });
    const first = b.add(event(1));
    jest.advanceTimersByTime(30);
    const second = b.add(event(2));
    jest.advanceTimersByTime(19);
    expect(db.calls).toHaveLength(0);
    jest.advanceTimersByTime(1);
    expect(db.calls.map((c) => c.ids)).toEqual([['req_1', 'req_2']]);
    db.calls[0].resolve(2);
    await Promise.all([first, second]);
  });

  it('rejects every add of a failed batch and leaves later batches unaffected', async () => {
    const db = new FakeInserter();
    const failures: number[] = [];
    const b = new UsageBatcher(db.insert, { maxBatch: 2, flushMs: 50, onFailed: (_e, size) => failures.push(size) });
    const failed = [b.add(event(1)), b.add(event(2))];
    const later = [b.add(event(3)), b.add(event(4))];
    expect(db.calls).toHaveLength(2);
    const down = new Error('connection refused');
    db.calls[0].reject(down);
    db.calls[1].resolve(2);
    const settled = await Promise.allSettled([...failed, ...later]);
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected', 'fulfilled', 'fulfilled']);
    expect((settled[0] as PromiseRejectedResult).reason).toBe(down);
    expect(failures).toEqual([2]);
  });

  it('flush() writes what is buffered and waits for batches in flight', async () => {
    const db = new FakeInserter();
    const b = new UsageBatcher(db.insert, { maxBatch: 2, flushMs: 10_000 });
    const inFlight = Promise.allSettled([b.add(event(1)), b.add(event(2))]);
    const buffered = b.add(event(3));
    let flushed = false;
    const flushing = b.flush().then(() => (flushed = true));
    expect(db.calls.map((c) => c.ids)).toEqual([['req_1', 'req_2'], ['req_3']]);
    db.calls[1].resolve(1);
    await buffered;
    expect(flushed).toBe(false);
    db.calls[0].reject(new Error('down'));
    await flushing;
    expect((await inFlight).map((s) => s.status)).toEqual(['rejected', 'rejected']);
  });

  it('does nothing on flush() when empty and never inserts an empty batch', async () => {
    const db = new FakeInserter();
    const b = new UsageBatcher(db.insert, { maxBatch: 2, flushMs: 5 });
    await b.flush();
    jest.advanceTimersByTime(100);
    expect(db.calls).toHaveLength(0);
  });
});
