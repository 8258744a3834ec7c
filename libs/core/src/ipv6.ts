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

/** `a.b.c.d` of two 16-bit groups. */
function ipv4Of(hi: number, lo: number): string {
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}

/**
 * Every IPv4 address a packet to this IPv6 address (its groups) may be sent to by a transition mechanism of the host,
 * its network or a relay: what the address stands for, whatever the other IPv6 routes. Empty for a plain IPv6
 * address.
 * - IPv4-mapped `::ffff:0:0/96` and NAT64's well-known prefix `64:ff9b::/96` (embeddedIpv4);
 * - NAT64's local-use `64:ff9b:1::/48` (RFC 8215), which may be cut at /48, /56, /64 or /96, each placing the IPv4
 *   address elsewhere (around the reserved bits 64-71): each reading is a candidate;
 * - IPv4-compatible `::a.b.c.d` (RFC 4291, deprecated: some stacks still send it as IPv4) and SIIT's IPv4-translated
 *   `::ffff:0:a.b.c.d` (RFC 2765, a stateless translator);
 * - 6to4 `2002:V4ADDR::/48` (RFC 3056): the host's 6to4 interface, or a relay, tunnels to V4ADDR;
 * - Teredo `2001:0::/32` (RFC 4380): its server's address (bits 32-63, where indirect bubbles go) and its client's
 *   mapped address (the last 32 bits, inverted), which a Teredo host sends to directly.
 * Not read: a NAT64 network-specific prefix (any /96 its operator chose) nor ISATAP interface ids, which no address
 * alone tells.
 */
export function carriedIpv4s(g: readonly number[]): string[] {
  const embedded = embeddedIpv4(g);
  if (embedded !== undefined) {
    return [embedded];
  }
  const zero = (from: number, to: number): boolean => g.slice(from, to).every((n) => n === 0);
  if (zero(0, 6) || (zero(0, 4) && g[4] === 0xffff && g[5] === 0)) {
    return [ipv4Of(g[6], g[7])];
  }
  if (g[0] === 0x2002) {
    return [ipv4Of(g[1], g[2])];
  }
  if (g[0] === 0x2001 && g[1] === 0) {
    return [ipv4Of(g[2], g[3]), ipv4Of(g[6] ^ 0xffff, g[7] ^ 0xffff)];
  }
  if (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 1) {
    const b = g.flatMap((n) => [n >> 8, n & 0xff]);
    const v4 = (bytes: number[]): string => bytes.join('.');
    return [v4([b[6], b[7], b[9], b[10]]), v4([b[7], b[9], b[10], b[11]]), v4(b.slice(9, 13)), v4(b.slice(12, 16))];
  }
  return [];
}
