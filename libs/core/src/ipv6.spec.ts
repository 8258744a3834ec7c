import { carriedIpv4s, embeddedIpv4, ipv6Groups } from './ipv6';

describe('embeddedIpv4', () => {
  it('reads the IPv4 address of IPv4-mapped and NAT64 well-known-prefix addresses, in either notation', () => {
    for (const a of ['::ffff:169.254.169.254', '::ffff:a9fe:a9fe', '64:ff9b::169.254.169.254', '64:ff9b::a9fe:a9fe']) {
      expect(embeddedIpv4(ipv6Groups(a))).toBe('169.254.169.254');
    }
  });

  it('reads nothing from other addresses (the local-use 64:ff9b:1::/48 is carriedIpv4s’s)', () => {
    for (const a of ['2001:db8::1', '::1', '64:ff9b:1::a9fe:a9fe', 'fe80::1', '::a9fe:a9fe']) {
      expect(embeddedIpv4(ipv6Groups(a))).toBeUndefined();
    }
  });
});

describe('carriedIpv4s', () => {
  const carried = (a: string): string[] => carriedIpv4s(ipv6Groups(a));

  it('reads IPv4-mapped and NAT64 well-known-prefix addresses as embeddedIpv4 does', () => {
    expect(carried('::ffff:169.254.169.254')).toEqual(['169.254.169.254']);
    expect(carried('64:ff9b::a9fe:a9fe')).toEqual(['169.254.169.254']);
  });

  it('reads the deprecated IPv4-compatible form and SIIT’s IPv4-translated one, in either notation', () => {
    for (const a of ['::169.254.169.254', '::a9fe:a9fe', '::ffff:0:169.254.169.254', '::ffff:0:a9fe:a9fe']) {
      expect(carried(a)).toEqual(['169.254.169.254']);
    }
  });

  it('reads the IPv4 address of a 6to4 site (2002:V4ADDR::/48), whatever follows', () => {
    expect(carried('2002:a9fe:a9fe::1')).toEqual(['169.254.169.254']);
    expect(carried('2002:6464:64c8:1:2:3:4:5')).toEqual(['100.100.100.200']);
  });

  it('reads both IPv4 addresses of a Teredo address: its server’s, and its client’s (stored inverted)', () => {
    // Server 169.254.169.254, client 192.0.2.45 (3fff:fdd2 inverted); then server 65.54.227.120, client 169.254.169.254.
    expect(carried('2001:0:a9fe:a9fe:8000:63bf:3fff:fdd2')).toEqual(['169.254.169.254', '192.0.2.45']);
    expect(carried('2001:0:4136:e378:8000:63bf:5601:5601')).toEqual(['65.54.227.120', '169.254.169.254']);
  });

  it('reads each place the local-use NAT64 prefix 64:ff9b:1::/48 may put it (cut at /48, /56, /64, /96)', () => {
    expect(carried('64:ff9b:1::a9fe:a9fe')).toContain('169.254.169.254');
    expect(carried('64:ff9b:1:a9fe:a9:fe00::')).toContain('169.254.169.254');
  });

  it('reads nothing from other addresses; `::` and `::1` carry no IPv4 address worth the name', () => {
    for (const a of ['2001:db8::1', 'fe80::1', '2001:4860:4860::8888', 'fd00:ec2::254', '2003:a9fe:a9fe::1']) {
      expect(carried(a)).toEqual([]);
    }
    expect(carried('::')).toEqual(['0.0.0.0']);
    expect(carried('::1')).toEqual(['0.0.0.1']);
  });
});
