import { FlushSchedule } from './flush-schedule';

/** Lets chained writes run (they start on a microtask, after any write still running). */
async function settled(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await Promise.resolve();
  }
}

describe('FlushSchedule', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  /** A schedule whose writes take what was added since the last one. */
  function rig(): { schedule: FlushSchedule; add(item: number): Promise<void>; writes: number[][] } {
    let pending: number[] = [];
    const writes: number[][] = [];
    const schedule = new FlushSchedule(100, 250, () => {
      writes.push(pending);
      pending = [];
      return Promise.resolve();
    });
    return {
      schedule,
      writes,
      async add(item) {
        pending.push(item);
        schedule.added();
        await settled();
      },
    };
  }

  it('writes the first item after a quiet spell at once, in the turn that added it', async () => {
    const { add, writes } = rig();
    await add(1);
    expect(writes).toEqual([[1]]);
  });

  it('while items keep coming, writes them together at most every interval, without a timer firing', async () => {
    const { add, writes } = rig();
    await add(1);
    for (let i = 2; i <= 5; i++) {
      jest.advanceTimersByTime(30);
      await add(i);
    }
    // 1 at 0 ms; 2, 3, 4 pending; 5 at 120 ms is past the interval: written with them.
    expect(writes).toEqual([[1], [2, 3, 4, 5]]);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('writes what is left when items stop coming, maxDelay after the first of them', async () => {
    const { add, writes } = rig();
    await add(1);
    jest.advanceTimersByTime(10);
    await add(2);
    jest.advanceTimersByTime(249);
    await settled();
    expect(writes).toEqual([[1]]);
    jest.advanceTimersByTime(1);
    await settled();
    expect(writes).toEqual([[1], [2]]);
  });

  it('flush writes at once, after a write still running, and drops the timer', async () => {
    let release!: () => void;
    const order: string[] = [];
    let n = 0;
    const schedule = new FlushSchedule(100, 250, async () => {
      const i = ++n;
      order.push(`start ${i}`);
      if (i === 1) {
        await new Promise<void>((r) => (release = r));
      }
      order.push(`end ${i}`);
    });
    schedule.added();
    schedule.added();
    expect(jest.getTimerCount()).toBe(1);
    const second = schedule.flush();
    expect(jest.getTimerCount()).toBe(0);
    await Promise.resolve();
    expect(order).toEqual(['start 1']);
    release();
    await second;
    expect(order).toEqual(['start 1', 'end 1', 'start 2', 'end 2']);
  });
});
