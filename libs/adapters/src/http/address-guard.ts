import { BlockList, isIP, type LookupFunction } from 'node:net';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { embeddedIpv4, ErrorClass, ipv6Groups, merged, ProviderCallError } from '@aigw/core';

/**
 * Where cloud metadata services answer and no LLM server does: IPv4 and IPv6 link-local (AWS, GCP, Azure, Oracle,
 * OpenStack at 169.254.169.254, ECS task credentials at 169.254.170.2), AWS's IPv6 metadata and EKS Pod Identity
 * addresses (fd00:ec2::254, fd00:ec2::23: AWS's fd00:ec2::/32), GCE's IPv6 metadata server (fd20:ce::254) and
 * Alibaba's 100.100.100.200. Loopback and private networks stay open: Ollama on localhost and vLLM on the LAN are the
 * normal self-hosted case. IPv4-mapped IPv6 (`::ffff:169.254.169.254`) is matched by BlockList; NAT64 forms by the
 * IPv4 address they carry (nat64Ipv4s).
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

function isRefused(address: string, family: 4 | 6): boolean {
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
 * address. A URL host that is one never reaches a lookup (net.connect skips it for literals): HttpPool checks it.
 */
export function isMetadataAddress(address: string): boolean {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const family = isIP(bare);
  return family !== 0 && isRefused(bare, family === 4 ? 4 : 6);
}

/** A call refused for its address: no connection was made (the connection test says so, not "it answered"). */
export class AddressRefusedError extends ProviderCallError {
  constructor(readonly host: string) {
    super(
      ErrorClass.Gateway,
      `provider address ${host} is link-local (where cloud metadata services answer): refused unless ` +
        `${ALLOW_LINK_LOCAL_VARIABLE}=true`,
    );
    this.name = 'AddressRefusedError';
  }
}

/**
 * `dns.lookup` for provider sockets that fails on a name resolving to such an address (`metadata.google.internal`,
 * a wildcard DNS name for 169.254.169.254), checked on the addresses the socket then connects to, so DNS answering
 * differently later (rebinding) gains nothing. Runs once per new connection, not per request.
 */
export const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, merged(options, { all: true as const }), (err, addresses: LookupAddress[]) => {
    if (err) {
      callback(err, '', 0);
      return;
    }
    if (addresses.some((a) => isRefused(a.address, a.family === 4 ? 4 : 6))) {
      callback(new AddressRefusedError(hostname), '', 0);
      return;
    }
    if (options.all === true) {
      (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
    } else {
      callback(null, addresses[0].address, addresses[0].family);
    }
  });
};
