import { ErrorClass, ProviderCallError, type ProviderKind } from '@aigw/core';
import { AnthropicAdapter } from './anthropic/anthropic-adapter';
import { GeminiAdapter } from './gemini/gemini-adapter';
import type { HttpPool } from './http/http-pool';
import { OllamaAdapter } from './ollama/ollama-adapter';
import { OpenAiAdapter } from './openai/openai-adapter';
import { loadPlugin, PluginLoadError } from './plugin/plugin-loader';
import { TgiAdapter } from './tgi/tgi-adapter';
import type { AdapterTarget, ProviderAdapter } from './types';

type BuiltInKind = Exclude<ProviderKind, 'plugin'>;

/** A provider as the registry needs to know it: plugin providers name their module. */
export interface AdapterOwner {
  id: string;
  plugin?: string;
}

/** A provider as `loadPlugins` checks it: its models' capabilities say which optional methods its module needs. */
export type PluginOwner = AdapterOwner & {
  kind: ProviderKind;
  models?: readonly { name: string; capabilities: readonly string[] }[];
};

/**
 * One adapter per wire format, all sharing one HttpPool, plus one per plugin module (loaded on first use or by
 * `loadPlugins` at boot). Adapters are stateless; the pool holds the sockets.
 */
export class AdapterRegistry {
  private readonly builtIn: { readonly [K in BuiltInKind]: ProviderAdapter };
  private readonly plugins = new Map<string, ProviderAdapter>();
  /** The one adapter that learns of its servers (their embeddings batch limits): told what the catalog still has. */
  private readonly openAi: OpenAiAdapter;

  constructor(private readonly pool: HttpPool) {
    this.openAi = new OpenAiAdapter(pool);
    this.builtIn = {
      openai: this.openAi,
      anthropic: new AnthropicAdapter(pool),
      gemini: new GeminiAdapter(pool),
      ollama: new OllamaAdapter(pool),
      tgi: new TgiAdapter(pool),
    };
  }

  /**
   * The adapter for a wire format. `plugin` needs its module (`owner.plugin`); one that fails to load is a
   * ProviderCallError (Gateway class: our configuration, not the provider, is at fault).
   */
  get(kind: ProviderKind, owner?: AdapterOwner): ProviderAdapter {
    if (kind !== 'plugin') {
      return this.builtIn[kind];
    }
    const specifier = owner?.plugin;
    if (specifier === undefined) {
      throw new ProviderCallError(ErrorClass.Gateway, `provider '${owner?.id ?? '?'}' has kind plugin but no module`);
    }
    try {
      return this.plugin(specifier, `provider '${owner?.id ?? '?'}'`);
    } catch (err) {
      throw new ProviderCallError(ErrorClass.Gateway, err instanceof Error ? err.message : 'plugin load failed', {
        cause: err,
      });
    }
  }

  /**
   * Loads and validates every plugin the catalog names, so a broken one stops the boot. Throws PluginLoadError. A
   * provider with a model declaring `embeddings` needs a module implementing `embed`: routing sends embeddings to
   * plugins (`embedsWith`) on that capability's word, which would otherwise fail every such request at call time.
   */
  loadPlugins(providers: readonly PluginOwner[]): number {
    let loaded = 0;
    for (const p of providers) {
      if (p.kind !== 'plugin') {
        continue;
      }
      if (p.plugin === undefined) {
        throw new PluginLoadError(`provider '${p.id}': kind plugin needs a plugin module`);
      }
      const adapter = this.plugin(p.plugin, `provider '${p.id}'`);
      const embedding = p.models?.find((m) => m.capabilities.includes('embeddings'));
      if (embedding !== undefined && typeof adapter.embed !== 'function') {
        throw new PluginLoadError(
          `provider '${p.id}': plugin module '${p.plugin}' does not implement embed(), which the model ` +
            `'${embedding.name}' needs for its 'embeddings' capability`,
        );
      }
      loaded++;
    }
    return loaded;
  }

  private plugin(specifier: string, owner: string): ProviderAdapter {
    let adapter = this.plugins.get(specifier);
    if (adapter === undefined) {
      adapter = loadPlugin(specifier, owner, { pool: this.pool });
      this.plugins.set(specifier, adapter);
    }
    return adapter;
  }

  /**
   * Closes the connection pools none of `targets` uses (a provider's old baseUrl after an admin changed it, a deleted
   * provider), once their in-flight calls finish. Returns how many it closed.
   */
  retainPools(targets: Iterable<Pick<AdapterTarget, 'poolKey' | 'baseUrl'>>): number {
    return this.pool.retainOnly(targets);
  }

  /**
   * Forgets what was learnt of servers none of `targets` (every route of the router's deployments) calls: see
   * OpenAiAdapter.retainLearntLimits. Not for the health monitor's probe targets, which are of other pools.
   */
  retainLearnt(targets: Iterable<AdapterTarget>): void {
    this.openAi.retainLearntLimits(targets);
  }

  /** Graceful: in-flight calls finish, then every pooled socket closes. */
  close(): Promise<void> {
    return this.pool.close();
  }
}
