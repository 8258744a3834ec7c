import { ErrorClass } from '@aigw/core';
import { CallDeadline } from './deadline';

const tick = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('CallDeadline', () => {
  it('aborts with a Timeout reason when the time is up, and classifies any later error by it', async () => {
    const d = new CallDeadline(new AbortController().signal, 5);
    d.sent();
    await tick(30);
    expect(d.aborted).toBe(true);
    expect(d.classify(Object.assign(new Error('x'), { code: 'ECONNRESET' })).errorClass).toBe(ErrorClass.Timeout);
    d.dispose();
  });

  it('aborts with a Cancelled reason when the caller aborts, even one aborted up front', () => {
    const caller = new AbortController();
    const d = new CallDeadline(caller.signal, 10_000);
    caller.abort(new Error('client went away'));
    expect(d.classify(new Error('whatever')).errorClass).toBe(ErrorClass.Cancelled);
    d.dispose();

    const early = new CallDeadline(caller.signal, 10_000);
    expect(early.aborted).toBe(true);
    expect(early.classify(undefined).errorClass).toBe(ErrorClass.Cancelled);
    early.dispose();
  });

  it('classifies by the error itself while nothing aborted', () => {
    const d = new CallDeadline(new AbortController().signal, 10_000);
    expect(d.classify(Object.assign(new Error('x'), { code: 'ECONNRESET' })).errorClass).toBe(ErrorClass.Network);
    d.dispose();
  });

  it('restarts on refresh and stops after dispose', async () => {
    const caller = new AbortController();
    const d = new CallDeadline(caller.signal, 250);
    d.sent();
    const started = Date.now();
    while (Date.now() - started < 400) {
      await tick(10);
      d.refresh();
    }
    expect(d.aborted).toBe(false);
    d.dispose();
    caller.abort();
    await tick(300);
    expect(d.aborted).toBe(false);
  });

  it('starts the timeout only once the request was sent (a call waiting for a connection is not timed)', async () => {
    const d = new CallDeadline(new AbortController().signal, 5);
    await tick(30);
    expect(d.aborted).toBe(false);
    d.sent();
    d.sent(); // idempotent: the first one started it
    await tick(30);
    expect(d.aborted).toBe(true);
    expect(d.reason?.errorClass).toBe(ErrorClass.Timeout);
    d.dispose();
  });

  it('does not fire at once for timeouts Node cannot represent', async () => {
    const d = new CallDeadline(new AbortController().signal, Number.POSITIVE_INFINITY);
    d.sent();
    await tick(10);
    expect(d.aborted).toBe(false);
    d.dispose();
  });
});
