import { ErrorCode, GatewayError } from '@aigw/core';
import { boundedByAnswer, PastDeadline, type DrainEnd } from './by-deadline';

/** A drain whose end the test calls (`end`), as ShutdownState's fail-all does. */
function drain(): DrainEnd & { end: () => void; watching: () => number } {
  const ends = new Set<() => void>();
  return {
    untilDrainEnd(end) {
      ends.add(end);
      return () => ends.delete(end);
    },
    end: () => [...ends].forEach((end) => end()),
    watching: () => ends.size,
  };
}

/** A Redis call held (a silent network) until the test answers it. */
function held<T>(): { work: Promise<T>; answer: (value: T) => void } {
  let answer!: (value: T) => void;
  const work = new Promise<T>((resolve) => (answer = resolve));
  return { work, answer };
}

describe('boundedByAnswer', () => {
  it('bounds an async submission by REQUEST_TIMEOUT_MS from its receipt, not its far deadline; what lands later goes to `late`', async () => {
    const call = held<string>();
    const late = jest.fn();
    const d = drain();
    const now = Date.now();
    const request = { receivedAt: now - 950, deadlineAt: now + 3_600_000 };
    const started = Date.now();
    await expect(boundedByAnswer(call.work, request, 1_000, late, d)).rejects.toBeInstanceOf(PastDeadline);
    expect(Date.now() - started).toBeLessThan(500);
    expect(d.watching()).toBe(0);
    call.answer('landed');
    await call.work;
    await Promise.resolve();
    expect(late).toHaveBeenCalledWith('landed');
  });

  it("answers the drain's end with the shutdown 503, and stops watching it", async () => {
    const call = held<string>();
    const d = drain();
    const bounded = boundedByAnswer(
      call.work,
      { receivedAt: Date.now(), deadlineAt: Date.now() + 60_000 },
      60_000,
      jest.fn(),
      d,
    );
    d.end();
    const err: unknown = await bounded.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect(err).toMatchObject({ code: ErrorCode.ServiceUnavailable, retryAfterMs: 1_000 });
    expect(d.watching()).toBe(0);
  });

  it('passes an answer in time through, its timer and drain watch cleared', async () => {
    const d = drain();
    const request = { receivedAt: Date.now(), deadlineAt: Date.now() + 60_000 };
    await expect(boundedByAnswer(Promise.resolve(7), request, 60_000, jest.fn(), d)).resolves.toBe(7);
    expect(d.watching()).toBe(0);
  });
});
