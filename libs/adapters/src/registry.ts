import type { ProviderKind } from '@aigw/core';
import { AnthropicAdapter } from './anthropic/anthropic-adapter';
import type { HttpPool } from './http/http-pool';
import { OpenAiAdapter } from './openai/openai-adapter';
import type { ProviderAdapter } from './types';

/** One adapter per wire format, all sharing one HttpPool. Adapters are stateless; the pool holds the sockets. */
export class AdapterRegistry {
  private readonly openai: OpenAiAdapter;
  private readonly anthropic: AnthropicAdapter;

  constructor(private readonly pool: HttpPool) {
    this.openai = new OpenAiAdapter(pool);
    this.anthropic = new AnthropicAdapter(pool);
  }

  get(kind: ProviderKind): ProviderAdapter {
    switch (kind) {
      case 'openai':
        return this.openai;
      case 'anthropic':
        return this.anthropic;
    }
  }

  /** Graceful: in-flight calls finish, then every pooled socket closes. */
  close(): Promise<void> {
    return this.pool.close();
  }
}
