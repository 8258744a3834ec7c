import { StatsRecorder } from './stats';

describe('StatsRecorder', () => {
  it('counts routes, outcomes, auth and in-flight high water', () => {
    const s = new StatsRecorder();
    s.started('POST /v1/messages', true);
    s.started('POST /v1/messages', false);
    expect(s.snapshot()).toMatchObject({ total: 2, inFlight: 2, maxInFlight: 2, authorized: 1 });
    s.finished(200);
    s.finished('cancelled');
    expect(s.snapshot()).toMatchObject({
      byRoute: { 'POST /v1/messages': 2 },
      byStatus: { '200': 1, cancelled: 1 },
      inFlight: 0,
      maxInFlight: 2,
      cancelled: 1,
    });
  });

  it('returns snapshots that later counting does not change', () => {
    const s = new StatsRecorder();
    const before = s.snapshot();
    s.started('GET /v1/models', false);
    expect(before.total).toBe(0);
    expect(before.byRoute).toEqual({});
  });

  it('keeps the newest requests in order once the ring wraps', () => {
    const s = new StatsRecorder();
    for (let i = 0; i < 250; i++) {
      s.record({ route: 'r', body: i, at: i, hadAuth: false });
    }
    expect(s.last(3).map((r) => r.body)).toEqual([247, 248, 249]);
    expect(s.last(1000)).toHaveLength(200);
    expect(s.last(1000)[0].body).toBe(50);
  });

  it('reset zeroes counters but keeps tracking requests still in flight', () => {
    const s = new StatsRecorder();
    s.started('r', false);
    s.record({ route: 'r', body: null, at: 0, hadAuth: false });
    s.reset();
    expect(s.snapshot()).toMatchObject({ total: 0, inFlight: 1, byRoute: {} });
    expect(s.last(10)).toEqual([]);
    s.finished(200);
    expect(s.snapshot().inFlight).toBe(0);
    s.finished(200);
    expect(s.snapshot().inFlight).toBe(0);
  });

  it('adds up the time spent at each number of requests in flight', () => {
    let now = 1_000;
    const s = new StatsRecorder(() => now);
    now += 5; // 5 ms idle
    s.started('r', false);
    now += 10; // 10 ms with one
    s.started('r', false);
    now += 20; // 20 ms with two
    s.finished(200);
    now += 1; // 1 ms with one, then 4 with none up to the snapshot
    s.finished(200);
    now += 4;
    expect(s.snapshot().inFlightMs).toEqual([9, 11, 20]);
    s.reset();
    now += 3;
    expect(s.snapshot().inFlightMs).toEqual([3]);
  });

  it('returns in-flight times that later requests do not change', () => {
    let now = 0;
    const s = new StatsRecorder(() => now);
    now += 2;
    const before = s.snapshot();
    s.started('r', false);
    now += 7;
    expect(before.inFlightMs).toEqual([2]);
    expect(s.snapshot().inFlightMs).toEqual([2, 7]);
  });
});
