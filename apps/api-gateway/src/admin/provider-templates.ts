import { PROVIDER_KEYS } from '@aigw/core';
import type { Doc } from './catalog-docs';

/**
 * Ready provider settings, for `POST /api/v1/ai/admin/providers {template, ...overrides}`. A template is a catalog
 * document without an id (the template's name unless given); keys come from the environment variable the
 * provider's docs name (`${VAR:-}`: none when unset, and a config export writes the reference back).
 */
export interface ProviderTemplate {
  name: string;
  description: string;
  /** The variable its key is read from. */
  apiKeyEnv: string | null;
  settings: Doc;
}

/** Catalog fields some catalog versions lack (the health monitor adds `healthIntervalS`). */
function ifSupported(key: string, value: unknown): Doc {
  return PROVIDER_KEYS.includes(key) ? { [key]: value } : {};
}

export const PROVIDER_TEMPLATES: readonly ProviderTemplate[] = [
  {
    name: 'zai',
    description:
      'Z.ai GLM (Coding Plan API) routed through the LiteLLM gateway: direct calls fail from many networks. ' +
      'Needs a gateway (the only one configured is used when none is given). Probed every 30 s.',
    apiKeyEnv: 'ZAI_API_KEY',
    settings: {
      kind: 'openai',
      baseUrl: 'https://api.z.ai/api/coding/paas/v4',
      apiKey: '${ZAI_API_KEY:-}',
      routing: 'gateway',
      timeoutMs: 120000,
      ...ifSupported('healthIntervalS', 30),
      models: [
        {
          name: 'glm-4.6',
          promptPer1k: 0.0006,
          completionPer1k: 0.0022,
          cachedPromptPer1k: 0.00011,
          contextWindow: 200000,
          capabilities: ['chat', 'streaming', 'tools'],
          quality: 0.85,
        },
      ],
    },
  },
  {
    name: 'openai',
    description: 'OpenAI Chat Completions.',
    apiKeyEnv: 'OPENAI_API_KEY',
    settings: {
      kind: 'openai',
      baseUrl: 'https://api.openai.com/v1',
      apiKey: '${OPENAI_API_KEY:-}',
      models: [
        {
          name: 'gpt-4o-mini',
          promptPer1k: 0.00015,
          completionPer1k: 0.0006,
          cachedPromptPer1k: 0.000075,
          contextWindow: 128000,
          capabilities: ['chat', 'streaming', 'tools', 'vision', 'json'],
          quality: 0.7,
        },
      ],
    },
  },
  {
    name: 'anthropic',
    description: 'Anthropic Messages API.',
    apiKeyEnv: 'ANTHROPIC_API_KEY',
    settings: {
      kind: 'anthropic',
      baseUrl: 'https://api.anthropic.com',
      apiKey: '${ANTHROPIC_API_KEY:-}',
      models: [
        {
          name: 'claude-3-5-haiku',
          upstreamName: 'claude-3-5-haiku-latest',
          promptPer1k: 0.0008,
          completionPer1k: 0.004,
          cachedPromptPer1k: 0.00008,
          contextWindow: 200000,
          capabilities: ['chat', 'streaming', 'tools', 'vision'],
          quality: 0.75,
        },
      ],
    },
  },
  {
    name: 'ollama',
    description: 'A local Ollama server through its OpenAI-compatible /v1 API (no key).',
    apiKeyEnv: null,
    settings: {
      kind: 'openai',
      baseUrl: 'http://127.0.0.1:11434/v1',
      models: [],
    },
  },
];

export function templateNamed(name: string): ProviderTemplate | undefined {
  return PROVIDER_TEMPLATES.find((t) => t.name === name);
}
