import { BlockList, isIP, type LookupFunction } from 'node:net';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { ErrorClass, merged, ProviderCallError } from '@aigw/core';

/**
 * Where cloud metadata services answer and no LLM server does: IPv4 and IPv6 link-local (AWS, GCP, Azure, Oracle,
 * OpenStack at 169.254.169.254, ECS task credentials at 169.254.170.2), AWS's IPv6 metadata address, Alibaba's
 * 100.100.100.200, and those through NAT64. Loopback and private networks stay open: Ollama on localhost and vLLM
 * on the LAN are the normal self-hosted case. IPv4-mapped IPv6 (`::ffff:169.254.169.254`) is matched by BlockList.
 */
const METADATA_ADDRESSES = new BlockList();
METADATA_ADDRESSES.addSubnet('169.254.0.0', 16, 'ipv4');
METADATA_ADDRESSES.addSubnet('fe80::', 10, 'ipv6');
METADATA_ADDRESSES.addAddress('fd00:ec2::254', 'ipv6');
METADATA_ADDRESSES.addAddress('100.100.100.200', 'ipv4');
METADATA_ADDRESSES.addSubnet('64:ff9b::a9fe:0', 112, 'ipv6');

/** The variable that lets providers sit at those addresses (a link-local LLM server, knowingly). */
export const ALLOW_LINK_LOCAL_VARIABLE = 'PROVIDER_ALLOW_LINK_LOCAL';

/**
 * Whether `address` (an IP literal, IPv6 with or without brackets, as URL hostnames give it) is a link-local or metadata
 * address. A URL host that is one never reaches a lookup (net.connect skips it for literals): HttpPool checks it.
 */
export function isMetadataAddress(address: string): boolean {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const family = isIP(bare);
  return family !== 0 && METADATA_ADDRESSES.check(bare, family === 4 ? 'ipv4' : 'ipv6');
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

export function linkLocalRefusal(host: string): AddressRefusedError {
  return new AddressRefusedError(host);
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
    if (addresses.some((a) => METADATA_ADDRESSES.check(a.address, a.family === 4 ? 'ipv4' : 'ipv6'))) {
      callback(linkLocalRefusal(hostname), '', 0);
      return;
    }
    if (options.all === true) {
      (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
    } else {
      callback(null, addresses[0].address, addresses[0].family);
    }
  });
};
