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
