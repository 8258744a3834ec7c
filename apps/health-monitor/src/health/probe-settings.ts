import { createHash } from 'node:crypto';
import type { GatewaySpec, ProviderSpec } from '@aigw/core';

/** A short hash of what a probe depends on (keys included, so only the hash is ever kept). */
function settingsHash(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 16);
}

function gatewaySettings(g: GatewaySpec | undefined): unknown {
  return g === undefined ? null : [g.baseUrl, g.apiKey ?? null, g.timeoutMs];
}

/** A hash of what a provider's probe uses: a change probes it at once, and its probe cycles hold a lock of their own. */
export function providerProbeSettings(p: ProviderSpec, gateways: readonly GatewaySpec[]): string {
  return settingsHash([
    p.kind,
    p.baseUrl,
    p.apiKey ?? null,
    p.timeoutMs,
    p.routing,
    p.plugin ?? null,
    p.healthPath ?? null,
    p.probe ?? null,
    p.models.map((m) => [m.upstreamName ?? m.name, m.enabled]),
    p.routing === 'direct' ? null : gatewaySettings(gateways.find((g) => g.id === p.gateway)),
  ]);
}

/** A hash of what a gateway's own probe uses. */
export function gatewayProbeSettings(g: GatewaySpec): string {
  return settingsHash(gatewaySettings(g));
}
