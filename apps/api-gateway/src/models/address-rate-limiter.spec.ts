import { addressBucket, AddressRateLimiter } from './address-rate-limiter';

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

describe('addressBucket', () => {
  it('counts an IPv6 client by its /64, however the address is written', () => {
    expect(addressBucket('2001:db8:0:1::1')).toBe('2001:db8:0:1::/64');
    expect(addressBucket('2001:0DB8:0000:0001:ffff:ffff:ffff:fffe')).toBe('2001:db8:0:1::/64');
    expect(addressBucket('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressBucket('::1')).toBe('0:0:0:0::/64');
    // The zero run sits after the first group: the groups after it reach into the /64.
    expect(addressBucket('1::2:3:4:5:6:7')).toBe('1:0:2:3::/64');
    expect(addressBucket('::2:3:4:5:6:7:8')).toBe('0:2:3:4::/64');
    expect(addressBucket('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressBucket('64:ff9b:1::192.0.2.1')).toBe('64:ff9b:1:0::/64');
  });

  it('counts an IPv4 client (also IPv4-mapped, or NAT64-translated) by its address', () => {
    expect(addressBucket('192.0.2.7')).toBe('192.0.2.7');
    expect(addressBucket('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(addressBucket('::FFFF:192.0.2.7')).toBe('192.0.2.7');
    expect(addressBucket('::ffff:c000:207')).toBe('192.0.2.7');
    expect(addressBucket('0:0:0:0:0:ffff:c000:0207')).toBe('192.0.2.7');
    // NAT64's well-known prefix: every IPv4 client of a 4-to-6 translator arrives in it.
    expect(addressBucket('64:ff9b::192.0.2.7')).toBe('192.0.2.7');
    expect(addressBucket('64:ff9b::c000:207')).toBe('192.0.2.7');
  });

  it('makes the addresses of one /64 share a window, and an IPv4-mapped address share its IPv4 one', () => {
    const limiter = new AddressRateLimiter(1, () => 0);
    expect(limiter.hit('2001:db8:0:1::1').allowed).toBe(true);
    expect(limiter.hit('2001:db8:0:1::2').allowed).toBe(false);
    expect(limiter.hit('2001:db8:0:2::1').allowed).toBe(true);
    expect(limiter.hit('192.0.2.7').allowed).toBe(true);
    expect(limiter.hit('::ffff:192.0.2.7').allowed).toBe(false);
  });
});
