import { DAY_MS } from '@aigw/core';
import { abortCauseOf } from './abort';
import { CancellationRegistry } from './cancellation-registry';

describe('CancellationRegistry', () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => jest.useRealTimers());

  it('aborts at the deadline, and not after the job ended', () => {
    const r = new CancellationRegistry();
    const a = r.begin('a', 1_000_500);
    const b = r.begin('b', 1_000_500);
    b.end();
    jest.advanceTimersByTime(499);
    expect(a.signal.aborted).toBe(false);
    jest.advanceTimersByTime(1);
    expect(abortCauseOf(a.signal)).toBe('deadline');
    expect(b.signal.aborted).toBe(false);
  });

  it('waits for a deadline further away than a Node timer can (an async job kept for 30 days)', () => {
    const thirtyDaysMs = 30 * DAY_MS;
    const run = new CancellationRegistry().begin('a', 1_000_000 + thirtyDaysMs);
    jest.advanceTimersByTime(1_000);
    expect(run.signal.aborted).toBe(false);
    jest.advanceTimersByTime(thirtyDaysMs - 1_001);
    expect(run.signal.aborted).toBe(false);
    jest.advanceTimersByTime(1);
    expect(abortCauseOf(run.signal)).toBe('deadline');
  });

  it('starts aborted when the deadline already passed', () => {
    expect(abortCauseOf(new CancellationRegistry().begin('a', 999_999).signal)).toBe('deadline');
  });

  it('cancels a running job with the given cause and forgets it once ended', () => {
    const r = new CancellationRegistry();
    const run = r.begin('a', 2_000_000);
    expect(r.cancel('a', 'client_disconnected')).toBe(true);
    expect(abortCauseOf(run.signal)).toBe('client_disconnected');
    run.end();
    expect(r.size).toBe(0);
  });

  it('remembers a cancel that overtook its job for a minute', () => {
    const r = new CancellationRegistry();
    expect(r.cancel('early', 'client_disconnected')).toBe(false);
    expect(abortCauseOf(r.begin('early', 2_000_000).signal)).toBe('client_disconnected');
    // Consumed: a re-run of the same job id is not cancelled again.
    expect(r.begin('early', 2_000_000).signal.aborted).toBe(false);

    r.cancel('late', 'client_disconnected');
    jest.advanceTimersByTime(60_001);
    expect(r.begin('late', 2_000_000).signal.aborted).toBe(false);
  });

  it('a cancel naming its run aborts only that run of the job id (an Idempotency-Key replay runs the id again)', () => {
    const r = new CancellationRegistry();
    // Heard while the job waited elsewhere (it was removed from the queue): the replay's run starts here.
    expect(r.cancel('idem_x', 'client_disconnected', 'req_1')).toBe(false);
    expect(r.begin('idem_x', 2_000_000, 'req_2').signal.aborted).toBe(false);
    // The cancelled run itself, had it started here, is aborted at start.
    r.cancel('idem_y', 'client_disconnected', 'req_1');
    expect(abortCauseOf(r.begin('idem_y', 2_000_000, 'req_1').signal)).toBe('client_disconnected');
    // Running: a cancel of another run leaves it, one of this run (or from a gateway naming no run) aborts it.
    const run = r.begin('idem_z', 2_000_000, 'req_2');
    expect(r.cancel('idem_z', 'client_disconnected', 'req_1')).toBe(false);
    expect(run.signal.aborted).toBe(false);
    expect(r.cancel('idem_z', 'client_disconnected', 'req_2')).toBe(true);
    expect(abortCauseOf(run.signal)).toBe('client_disconnected');
    r.cancel('idem_w', 'client_disconnected');
    expect(abortCauseOf(r.begin('idem_w', 2_000_000, 'req_9').signal)).toBe('client_disconnected');
  });

  it('aborts everything on shutdown', () => {
    const r = new CancellationRegistry();
    const runs = [r.begin('a', 2_000_000), r.begin('b', 2_000_000)];
    expect(r.abortAll('shutdown')).toBe(2);
    expect(runs.map((x) => abortCauseOf(x.signal))).toEqual(['shutdown', 'shutdown']);
  });
});
