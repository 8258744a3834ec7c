import type { LookupFunction } from 'node:net';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
// Which addresses are link-local or a cloud metadata service's is core's (metadata-address.ts), shared with the catalog
// reader that refuses such a URL when it is saved.
import { ALLOW_LINK_LOCAL_VARIABLE, ErrorClass, isMetadataIp, merged, ProviderCallError } from '@aigw/core';

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
    if (addresses.some((a) => isMetadataIp(a.address, a.family === 4 ? 4 : 6))) {
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
