export interface SimulatorStats {
  /** Provider requests received (control endpoints and /health are not counted). */
  total: number;
  /** Requests per `METHOD /path`. */
  byRoute: Record<string, number>;
  /**
   * Finished requests per outcome: the HTTP status when the response completed, `dropped` when
   * the simulator cut the connection, `cancelled` when the client left first.
   */
  byStatus: Record<string, number>;
  /** SSE responses started. */
  streams: number;
  inFlight: number;
  maxInFlight: number;
  /**
   * Milliseconds spent with each number of requests in flight since the last reset (index: requests in flight; the
   * last possible index, IN_FLIGHT_CAP, also counts every higher number). A closed-loop load that moves in waves
   * spends its time at the ends (all connections here, then none); an even one around its mean.
   */
  inFlightMs: number[];
  /** TCP connections accepted (low numbers under load mean the client pools keep-alive sockets). */
  connections: number;
  /** Requests that carried Authorization or x-api-key (the values are never recorded). */
  authorized: number;
  /** Requests whose client closed the connection before the response finished. */
  cancelled: number;
}

export interface RecordedRequest {
  route: string;
  body: unknown;
  at: number;
  hadAuth: boolean;
}

export type Outcome = number | 'dropped' | 'cancelled';

const RING_SIZE = 200;

/** The highest in-flight count `inFlightMs` tells apart. */
const IN_FLIGHT_CAP = 4096;

export class StatsRecorder {
  private s: SimulatorStats = StatsRecorder.zero();
  private ring: RecordedRequest[] = [];
  private next = 0;
  /** When the in-flight count last changed (or was last accounted for), on `now`'s clock. */
  private since: number;

  constructor(private readonly now: () => number = () => performance.now()) {
    this.since = now();
  }

  private static zero(): SimulatorStats {
    return {
      total: 0,
      byRoute: {},
      byStatus: {},
      streams: 0,
      inFlight: 0,
      maxInFlight: 0,
      inFlightMs: [],
      connections: 0,
      authorized: 0,
      cancelled: 0,
    };
  }

  started(route: string, hadAuth: boolean): void {
    const s = this.s;
    s.total++;
    s.byRoute[route] = (s.byRoute[route] ?? 0) + 1;
    if (hadAuth) {
      s.authorized++;
    }
    this.accrue();
    if (++s.inFlight > s.maxInFlight) {
      s.maxInFlight = s.inFlight;
    }
  }

  finished(outcome: Outcome): void {
    const s = this.s;
    this.accrue();
    // A reset while requests were in flight must not drive the gauge negative.
    if (s.inFlight > 0) {
      s.inFlight--;
    }
    if (outcome === 'cancelled') {
      s.cancelled++;
    }
    const key = String(outcome);
    s.byStatus[key] = (s.byStatus[key] ?? 0) + 1;
  }

  streamStarted(): void {
    this.s.streams++;
  }

  connected(): void {
    this.s.connections++;
  }

  record(req: RecordedRequest): void {
    if (this.ring.length < RING_SIZE) {
      this.ring.push(req);
    } else {
      this.ring[this.next] = req;
    }
    this.next = (this.next + 1) % RING_SIZE;
  }

  /** The last `n` recorded requests, oldest first. */
  last(n: number): RecordedRequest[] {
    const ordered =
      this.ring.length < RING_SIZE
        ? this.ring.slice()
        : [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
    return n >= ordered.length ? ordered : ordered.slice(ordered.length - Math.max(0, n));
  }

  snapshot(): SimulatorStats {
    this.accrue();
    const s = this.s;
    return { ...s, byRoute: { ...s.byRoute }, byStatus: { ...s.byStatus }, inFlightMs: [...s.inFlightMs] };
  }

  /** Adds the time since the last change to the current in-flight count's total. */
  private accrue(): void {
    const t = this.now();
    const at = Math.min(this.s.inFlight, IN_FLIGHT_CAP);
    const spent = this.s.inFlightMs;
    while (spent.length <= at) {
      spent.push(0);
    }
    spent[at] += t - this.since;
    this.since = t;
  }

  /** Zero the counters and forget recorded requests; in-flight requests keep being tracked. */
  reset(): void {
    const inFlight = this.s.inFlight;
    this.s = StatsRecorder.zero();
    this.s.inFlight = inFlight;
    this.s.maxInFlight = inFlight;
    this.since = this.now();
    this.ring = [];
    this.next = 0;
  }
}
