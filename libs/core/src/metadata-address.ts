import { BlockList, isIP } from 'node:net';
import { embeddedIpv4, ipv6Groups } from './ipv6';

/**
 * Where cloud metadata services answer and no LLM server does: IPv4 and IPv6 link-local (AWS, GCP, Azure, Oracle,
 * OpenStack at 169.254.169.254, ECS task credentials at 169.254.170.2), AWS's IPv6 metadata and EKS Pod Identity
 * addresses (fd00:ec2::254, fd00:ec2::23: AWS's fd00:ec2::/32), GCE's IPv6 metadata server (fd20:ce::254) and
 * Alibaba's 100.100.100.200. Loopback and private networks stay open: Ollama on localhost and vLLM on the LAN are the
 * normal self-hosted case. IPv4-mapped IPv6 (`::ffff:169.254.169.254`) is matched by BlockList; NAT64 forms by the
 * IPv4 address they carry (nat64Ipv4s).
 *
 * One classification for both places that refuse such addresses: the adapters' HttpPool at call time (address-guard,
 * on URL literals and on what a name resolves to) and the catalog reader at save time (URL literals only).
 */
const METADATA_ADDRESSES = new BlockList();
METADATA_ADDRESSES.addSubnet('169.254.0.0', 16, 'ipv4');
METADATA_ADDRESSES.addSubnet('fe80::', 10, 'ipv6');
METADATA_ADDRESSES.addSubnet('fd00:ec2::', 32, 'ipv6');
METADATA_ADDRESSES.addAddress('fd20:ce::254', 'ipv6');
METADATA_ADDRESSES.addAddress('100.100.100.200', 'ipv4');

/**
 * The IPv4 addresses an IPv6 address may carry through a NAT64 translator (RFC 6052): the well-known prefix
 * 64:ff9b::/96 holds it in its last 32 bits (`embeddedIpv4`, which reads IPv4-mapped addresses too); the local-use
 * 64:ff9b:1::/48 (RFC 8215) may be cut at /48, /56, /64 or /96, each placing it elsewhere (around the reserved bits
 * 64-71), so each reading is a candidate.
 */
function nat64Ipv4s(address: string): string[] {
  const g = ipv6Groups(address);
  const embedded = embeddedIpv4(g);
  if (embedded !== undefined) {
    return [embedded];
  }
  if (g[0] !== 0x64 || g[1] !== 0xff9b || g[2] !== 1) {
    return [];
  }
  const b = g.flatMap((n) => [n >> 8, n & 0xff]);
  const v4 = (bytes: number[]): string => bytes.join('.');
  return [v4([b[6], b[7], b[9], b[10]]), v4([b[7], b[9], b[10], b[11]]), v4(b.slice(9, 13)), v4(b.slice(12, 16))];
}

/** Whether `address`, an IP address of `family` (as `dns.lookup` answers), is a link-local or metadata address. */
export function isMetadataIp(address: string, family: 4 | 6): boolean {
  if (family === 4) {
    return METADATA_ADDRESSES.check(address, 'ipv4');
  }
  return (
    METADATA_ADDRESSES.check(address, 'ipv6') || nat64Ipv4s(address).some((a) => METADATA_ADDRESSES.check(a, 'ipv4'))
  );
}

/** The variable that lets providers sit at those addresses (a link-local LLM server, knowingly). */
export const ALLOW_LINK_LOCAL_VARIABLE = 'PROVIDER_ALLOW_LINK_LOCAL';

/**
 * Whether `address` (an IP literal, IPv6 with or without brackets, as URL hostnames give it) is a link-local or metadata
 * address. A host name is not (false): what it resolves to is only known when it is looked up.
 */
export function isMetadataAddress(address: string): boolean {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const family = isIP(bare);
  return family !== 0 && isMetadataIp(bare, family === 4 ? 4 : 6);
}
