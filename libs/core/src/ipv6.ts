/**
 * The eight 16-bit groups of an IPv6 address (`isIPv6` true; a zone `%eth0` ignored): `::` stands for as many zero
 * groups as the address lacks, and an embedded IPv4 address (`::ffff:192.0.2.7`) is two groups.
 */
export function ipv6Groups(address: string): number[] {
  const [head, tail] = address.split('%', 1)[0].split('::').map(groupsOf);
  return tail === undefined ? head : [...head, ...Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/** The 16-bit groups of one side of an IPv6 address; an embedded IPv4 address is two. */
function groupsOf(side: string): number[] {
  if (side === '') {
    return [];
  }
  const parts = side.split(':');
  const last = parts[parts.length - 1];
  const v4 = last.includes('.') ? last.split('.').map(Number) : null;
  const groups = (v4 === null ? parts : parts.slice(0, -1)).map((h) => parseInt(h, 16));
  return v4 === null ? groups : [...groups, (v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]];
}

/**
 * The IPv4 address the groups of an IPv6 address carry in their last 32 bits, as `a.b.c.d`: IPv4-mapped
 * (`::ffff:a.b.c.d`, in either notation) or NAT64's well-known prefix (`64:ff9b::/96`, RFC 6052, where every IPv4
 * client of a 4-to-6 translator arrives). Undefined for any other address.
 */
export function embeddedIpv4(g: readonly number[]): string | undefined {
  const zero = (from: number, to: number): boolean => g.slice(from, to).every((n) => n === 0);
  const mapped = zero(0, 5) && g[5] === 0xffff;
  const nat64 = g[0] === 0x64 && g[1] === 0xff9b && zero(2, 6);
  return mapped || nat64 ? `${g[6] >> 8}.${g[6] & 0xff}.${g[7] >> 8}.${g[7] & 0xff}` : undefined;
}
