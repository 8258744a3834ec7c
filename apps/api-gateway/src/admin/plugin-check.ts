import { Inject, Injectable } from '@nestjs/common';
import type { AdapterRegistry } from '@aigw/adapters';
import { CatalogFileError, ErrorCode, GatewayError, type Catalog } from '@aigw/core';
import { CatalogService, ENV } from '@aigw/platform';
import type { GatewayEnv } from '../config/gateway-env';

/** Whether an admin change may name a plugin module (which the gateway and every router-worker then `require`). */
export type PluginAllowed = (specifier: string) => boolean;

/**
 * The plugin modules an admin key may name: those the operator listed (ADMIN_ALLOWED_PLUGINS) and those the running
 * catalog already loads (PROVIDERS_FILE's, or saved before), so a change to such a provider's other fields, or an
 * export imported back, still passes. Any other module is refused before it is loaded: loading runs its code, with
 * this process's environment (provider keys, SECRETS_KEY) in reach.
 */
@Injectable()
export class PluginAllowance {
  private readonly listed: ReadonlySet<string>;

  constructor(
    @Inject(ENV) env: GatewayEnv,
    private readonly catalog: CatalogService,
  ) {
    this.listed = new Set(env.ADMIN_ALLOWED_PLUGINS);
    // The operator's catalog file names what it likes, but its plugins must load before it is seeded: one that cannot
    // would otherwise be written to PostgreSQL while this gateway started, and every router-worker stop on it.
    catalog.checkBeforeSeed((file) => {
      const problems = pluginProblems(file, () => true, { enabledOnly: true });
      if (problems.length > 0) {
        throw new CatalogFileError(problems, `provider catalog file ${env.PROVIDERS_FILE ?? ''}`);
      }
    });
  }

  readonly allows: PluginAllowed = (specifier) =>
    this.listed.has(specifier) || this.catalog.current.providers.some((p) => p.plugin === specifier);

  /** 400 naming `param` for a module `allows` refuses. */
  assert(specifier: string, param: string): void {
    if (!this.allows(specifier)) {
      throw new GatewayError(ErrorCode.InvalidRequest, `${param} ${notAllowed(specifier)}`, { param });
    }
  }
}

function notAllowed(specifier: string): string {
  return (
    `'${specifier}' is not a plugin module admin changes may name: the operator lists those in ` +
    'ADMIN_ALLOWED_PLUGINS (or configures the provider in PROVIDERS_FILE)'
  );
}

/**
 * Loads plugins as the workers' registry does, and keeps each (one factory call per module, as in a worker); its pool
 * is one nothing calls through (it holds nothing until a request).
 */
let registry: AdapterRegistry | undefined;

/**
 * The problems of a document's plugin providers, worded as the catalog reader words its own
 * (`providers[<i>].plugin <why>`): a module `allowed` refuses (not loaded), one that cannot be found or loaded, or
 * that does not implement the adapter interface. Router-workers load every plugin of the catalog at boot and refuse to start on such a one (PluginCheck),
 * so an admin change that saved it would stop the next worker to start (a restart, a scale-out, a deploy), and with
 * it every generation. The module is loaded here as the workers load it (same image, same working directory);
 * only admin changes pay for it.
 */
export function pluginProblems(
  catalog: Catalog,
  allowed: PluginAllowed,
  { enabledOnly = false }: { enabledOnly?: boolean } = {},
): string[] {
  const problems: string[] = [];
  catalog.providers.forEach((p, i) => {
    // A worker loads the enabled ones at boot (PluginCheck): the catalog file is checked as it will be.
    if (p.kind !== 'plugin' || p.plugin === undefined || (enabledOnly && !p.enabled)) {
      return;
    }
    if (!allowed(p.plugin)) {
      problems.push(`providers[${i}].plugin ${notAllowed(p.plugin)}`);
      return;
    }
    try {
      registry ??= newRegistry();
      registry.loadPlugins([p]);
    } catch (err) {
      // The loader's `provider '<id>': plugin module '<m>' cannot be found` as `providers[<i>].plugin module '<m>'
      // cannot be found`: the path already says plugin.
      const why =
        err instanceof Error
          ? err.message.replace(`provider '${p.id}': plugin module `, 'module ')
          : 'cannot be loaded';
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
