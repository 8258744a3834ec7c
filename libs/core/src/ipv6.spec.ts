import { embeddedIpv4, ipv6Groups } from './ipv6';

describe('embeddedIpv4', () => {
  it('reads the IPv4 address of IPv4-mapped and NAT64 well-known-prefix addresses, in either notation', () => {
    for (const a of ['::ffff:169.254.169.254', '::ffff:a9fe:a9fe', '64:ff9b::169.254.169.254', '64:ff9b::a9fe:a9fe']) {
      expect(embeddedIpv4(ipv6Groups(a))).toBe('169.254.169.254');
    }
  });

  it('reads nothing from other addresses (the local-use 64:ff9b:1::/48 is the address guard’s own)', () => {
    for (const a of ['2001:db8::1', '::1', '64:ff9b:1::a9fe:a9fe', 'fe80::1', '::a9fe:a9fe']) {
      expect(embeddedIpv4(ipv6Groups(a))).toBeUndefined();
    }
  });
});
