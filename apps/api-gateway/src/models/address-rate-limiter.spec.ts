import { AddressRateLimiter } from './address-rate-limiter';

describe('AddressRateLimiter', () => {
  it('admits `limit` requests per address per minute, each address on its own', () => {
    let now = 1_000_000;
    const limiter = new AddressRateLimiter(2, () => now);
    expect(limiter.hit('10.0.0.1')).toEqual({ allowed: true, remaining: 1, resetMs: 60_000 });
    now += 10_000;
    expect(limiter.hit('10.0.0.1')).toEqual({ allowed: true, remaining: 0, resetMs: 50_000 });
    expect(limiter.hit('10.0.0.1')).toEqual({ allowed: false, remaining: 0, resetMs: 50_000 });
    expect(limiter.hit('10.0.0.2').allowed).toBe(true);
    now += 50_000;
    expect(limiter.hit('10.0.0.1')).toEqual({ allowed: true, remaining: 1, resetMs: 60_000 });
  });
});
