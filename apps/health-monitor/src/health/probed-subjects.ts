import type { Catalog } from '@aigw/core';

/** What the monitor probes: every enabled provider, and each gateway an enabled provider routes through. */
export function probedSubjects(catalog: Catalog): { providers: Set<string>; gateways: Set<string> } {
  const providers = new Set<string>();
  const gateways = new Set<string>();
  for (const p of catalog.providers) {
    if (!p.enabled) {
      continue;
    }
    providers.add(p.id);
    if (p.routing !== 'direct' && p.gateway !== undefined) {
      gateways.add(p.gateway);
    }
  }
  return { providers, gateways };
}
