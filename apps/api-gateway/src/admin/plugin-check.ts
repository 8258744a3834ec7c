import type { AdapterRegistry } from '@aigw/adapters';
import type { Catalog } from '@aigw/core';

/**
 * Loads plugins as the workers' registry does, and keeps each (one factory call per module, as in a worker); its pool
 * is one nothing calls through (it holds nothing until a request).
 */
let registry: AdapterRegistry | undefined;

/**
 * The problems of a document's plugin providers, worded as the catalog reader words its own
 * (`providers[<i>].plugin <why>`): a module that cannot be found or loaded, or that does not implement the adapter
 * interface. Router-workers load every plugin of the catalog at boot and refuse to start on such a one (PluginCheck),
 * so an admin change that saved it would stop the next worker to start (a restart, a scale-out, a deploy), and with
 * it every generation. The module is loaded here as the workers load it (same image, same working directory);
 * only admin changes pay for it.
 */
export function pluginProblems(catalog: Catalog): string[] {
  const problems: string[] = [];
  catalog.providers.forEach((p, i) => {
    if (p.kind !== 'plugin' || p.plugin === undefined) {
      return;
    }
    try {
      registry ??= newRegistry();
      registry.loadPlugins([p]);
    } catch (err) {
      const why = err instanceof Error ? err.message.replace(`provider '${p.id}': `, '') : 'cannot be loaded';
      problems.push(`providers[${i}].plugin ${why}`);
    }
  });
  return problems;
}

/**
 * Loaded at the first plugin to check, not at boot: the gateway otherwise loads no HTTP client of the adapters
 * (undici) and none of their code (test/platform/loaded-modules).
 */
function newRegistry(): AdapterRegistry {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a lazy load: import() would make every catalog check async
  const adapters = require('@aigw/adapters') as typeof import('@aigw/adapters');
  return new adapters.AdapterRegistry(new adapters.HttpPool());
}
