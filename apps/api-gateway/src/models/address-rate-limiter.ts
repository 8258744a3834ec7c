import { isIPv6 } from 'node:net';

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
 * replica counts its own, so N replicas admit up to N × limit per address. An IPv6 client counts by its /64 (one
 * subscriber's network: a host picks any address in it at will), an IPv4-mapped one as its IPv4 address.
 */
export class AddressRateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly limit: number,
    private readonly now: () => number = Date.now,
  ) {}

  hit(client: string): AddressVerdict {
    const address = addressBucket(client);
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

/**
 * What an address is counted as: an IPv4 address itself (also when IPv4-mapped, `::ffff:a.b.c.d`), an IPv6 address
 * by its first 64 bits (`2001:db8:0:1::/64`). Anything else (not an IP address) is its own bucket.
 */
export function addressBucket(address: string): string {
  if (!isIPv6(address)) {
    return address;
  }
  const bare = address.split('%', 1)[0].toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(bare);
  if (mapped !== null) {
    return mapped[1];
  }
  const [head, tail] = bare.split('::').map(groupsOf);
  // '::' stands for as many zero groups as the address lacks.
  const groups =
    tail === undefined ? head : [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

/** The 16-bit groups of one side of an IPv6 address; an embedded IPv4 address is two. */
function groupsOf(side: string): string[] {
  if (side === '') {
    return [];
  }
  const parts = side.split(':');
  const last = parts[parts.length - 1];
  if (last.includes('.')) {
    const [a, b, c, d] = last.split('.').map(Number);
    parts.splice(-1, 1, ((a << 8) | b).toString(16), ((c << 8) | d).toString(16));
  }
  return parts;
}
