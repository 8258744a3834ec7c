/** Distinct addresses tracked per minute; past it the oldest window is forgotten (a flood of addresses costs memory only up to here). */
const MAX_ADDRESSES = 10_000;
const WINDOW_MS = 60_000;

export interface AddressVerdict {
  allowed: boolean;
  remaining: number;
  /** ms until the address's window ends. */
  resetMs: number;
}

/**
 * A fixed one-minute window per client address, in this process: a light limit for routes open without a
 * key (the public models listing), where there is no key or user to count against in Redis. Each gateway
 * replica counts its own, so N replicas admit up to N × limit per address.
 */
export class AddressRateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly limit: number,
    private readonly now: () => number = Date.now,
  ) {}

  hit(address: string): AddressVerdict {
    const now = this.now();
    let w = this.windows.get(address);
    if (w === undefined || now - w.start >= WINDOW_MS) {
      this.windows.delete(address);
      if (this.windows.size >= MAX_ADDRESSES) {
        // Map iteration is insertion order: the first entry is the oldest window.
        const oldest = this.windows.keys().next();
        if (oldest.done !== true) {
          this.windows.delete(oldest.value);
        }
      }
      w = { start: now, count: 0 };
      this.windows.set(address, w);
    }
    const resetMs = w.start + WINDOW_MS - now;
    if (w.count >= this.limit) {
      return { allowed: false, remaining: 0, resetMs };
    }
    w.count++;
    return { allowed: true, remaining: this.limit - w.count, resetMs };
  }
}
