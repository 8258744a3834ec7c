import { BlockList, isIP } from 'node:net';
import { carriedIpv4s, ipv6Groups } from './ipv6';

/**
 * Where cloud metadata services answer and no LLM server does: IPv4 and IPv6 link-local (AWS, GCP, Azure, Oracle,
 * OpenStack at 169.254.169.254, ECS task credentials at 169.254.170.2), AWS's IPv6 metadata and EKS Pod Identity
 * addresses (fd00:ec2::254, fd00:ec2::23: AWS's fd00:ec2::/32), GCE's IPv6 metadata server (fd20:ce::254) and
 * Alibaba's 100.100.100.200. Loopback and private networks stay open: Ollama on localhost and vLLM on the LAN are the
 * normal self-hosted case. An IPv6 address that leads to one of those IPv4 addresses is one too, whichever way it
 * carries it (carriedIpv4s): IPv4-mapped (`::ffff:169.254.169.254`), IPv4-compatible (`::169.254.169.254`), NAT64
 * (`64:ff9b::a9fe:a9fe`, `64:ff9b:1::/48`), 6to4 (`2002:a9fe:a9fe::/48`) or Teredo (server or client).
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

/** Whether `address`, an IP address of `family` (as `dns.lookup` answers), is a link-local or metadata address. */
export function isMetadataIp(address: string, family: 4 | 6): boolean {
  if (family === 4) {
    return METADATA_ADDRESSES.check(address, 'ipv4');
  }
  return (
    METADATA_ADDRESSES.check(address, 'ipv6') ||
    carriedIpv4s(ipv6Groups(address)).some((a) => METADATA_ADDRESSES.check(a, 'ipv4'))
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
