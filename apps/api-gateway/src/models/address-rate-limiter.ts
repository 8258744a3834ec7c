import { isIPv6 } from 'node:net';
import { embeddedIpv4, ipv6Groups, setBounded } from '@aigw/core';

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
      w = { start: now, count: 0 };
      setBounded(this.windows, address, w, MAX_ADDRESSES);
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
 * What an address is counted as: an IPv4 address itself, also when carried in IPv6 (IPv4-mapped `::ffff:a.b.c.d`,
 * in either notation, or NAT64's well-known prefix `64:ff9b::/96`, where every IPv4 client of a 4-to-6 translator
 * arrives), an IPv6 address by its first 64 bits (`2001:db8:0:1::/64`). Anything else (not an IP address) is its
 * own bucket.
 */
export function addressBucket(address: string): string {
  if (!isIPv6(address)) {
    return address;
  }
  const g = ipv6Groups(address);
  const v4 = embeddedIpv4(g);
  if (v4 !== undefined) {
    return v4;
  }
  return `${g
    .slice(0, 4)
    .map((n) => n.toString(16))
    .join(':')}::/64`;
}
