import type { Capability, Catalog, ModelSpec, ProviderKind, ProviderSpec } from './catalog';
import { CATALOG_DEFAULTS, CatalogFileError, credentialParamOf, type CatalogEnv } from './catalog-file';

/**
 * Zero-config registration: with no PROVIDERS_FILE, each provider whose usual environment variable is set is
 * registered with the default models and prices below (examples: check the provider's price list, and use a
 * catalog file to change them). Invalid values stop the boot naming the variable.
 */
interface EnvPreset {
  id: string;
  kind: ProviderKind;
  /** The variable that turns the preset on: an API key, or the server URL for local servers. */
  variable: string;
  /** The key is `variable` (hosted APIs) or the server URL is (local servers). */
  holds: 'key' | 'url';
  baseUrl: string;
  /** Overrides the base URL (for keys) when set. */
  urlVariable?: string;
  /** Comma-separated model names replacing the default list (local servers serve what was pulled). */
  modelsVariable?: string;
  healthPath?: string;
  timeoutMs?: number;
  models: ModelSpec[];
}

const CHAT: Capability[] = ['chat', 'streaming'];
const FULL: Capability[] = ['chat', 'streaming', 'tools', 'vision', 'json'];

function model(name: string, promptPer1k: number, completionPer1k: number, extra: Partial<ModelSpec> = {}): ModelSpec {
  return { name, promptPer1k, completionPer1k, contextWindow: 128_000, capabilities: FULL, enabled: true, ...extra };
}

const local = (name: string): ModelSpec => model(name, 0, 0, { contextWindow: 8192, capabilities: CHAT });

export const ENV_PRESETS: readonly EnvPreset[] = [
  {
    id: 'openai',
    kind: 'openai',
    variable: 'OPENAI_API_KEY',
    holds: 'key',
    baseUrl: 'https://api.openai.com/v1',
    urlVariable: 'OPENAI_BASE_URL',
    models: [
      model('gpt-4o-mini', 0.00015, 0.0006, { cachedPromptPer1k: 0.000075, quality: 0.7 }),
      model('gpt-4o', 0.0025, 0.01, { cachedPromptPer1k: 0.00125, quality: 0.9 }),
    ],
  },
  {
    id: 'anthropic',
    kind: 'anthropic',
    variable: 'ANTHROPIC_API_KEY',
    holds: 'key',
    baseUrl: 'https://api.anthropic.com',
    models: [
      model('claude-sonnet-4', 0.003, 0.015, {
        upstreamName: 'claude-sonnet-4-20250514',
        cachedPromptPer1k: 0.0003,
        cacheWritePer1k: 0.00375,
        contextWindow: 200_000,
        capabilities: ['chat', 'streaming', 'tools', 'vision'],
        quality: 0.95,
      }),
    ],
  },
  {
    id: 'deepseek',
    kind: 'openai',
    variable: 'DEEPSEEK_API_KEY',
    holds: 'key',
    baseUrl: 'https://api.deepseek.com',
    models: [
      // DeepSeek's list per 1M tokens / 1000: $0.28 prompt, $0.028 prompt cache hit, $0.42 completion (both models).
      model('deepseek-chat', 0.00028, 0.00042, {
        cachedPromptPer1k: 0.000028,
        contextWindow: 64_000,
        capabilities: ['chat', 'streaming', 'tools', 'json'],
      }),
      model('deepseek-reasoner', 0.00028, 0.00042, {
        cachedPromptPer1k: 0.000028,
        contextWindow: 64_000,
        capabilities: CHAT,
      }),
    ],
  },
  {
    id: 'zai',
    kind: 'openai',
    variable: 'ZAI_API_KEY',
    holds: 'key',
    baseUrl: 'https://api.z.ai/api/coding/paas/v4',
    timeoutMs: 120_000,
    models: [
      model('glm-4.6', 0.0006, 0.0022, {
        cachedPromptPer1k: 0.00011,
        contextWindow: 200_000,
        capabilities: ['chat', 'streaming', 'tools'],
      }),
    ],
  },
  {
    id: 'huggingface',
    kind: 'openai',
    variable: 'HF_TOKEN',
    holds: 'key',
    baseUrl: 'https://router.huggingface.co/v1',
    models: [
      model('llama-3.1-8b', 0.0001, 0.0001, {
        upstreamName: 'meta-llama/Llama-3.1-8B-Instruct',
        capabilities: ['chat', 'streaming', 'tools'],
      }),
    ],
  },
  {
    id: 'gemini',
    kind: 'gemini',
    variable: 'GEMINI_API_KEY',
    holds: 'key',
    baseUrl: 'https://generativelanguage.googleapis.com/v1beta',
    models: [
      model('gemini-2.5-flash', 0.0003, 0.0025, {
        cachedPromptPer1k: 0.000075,
        contextWindow: 1_048_576,
        quality: 0.8,
      }),
    ],
  },
  {
    id: 'ollama',
    kind: 'ollama',
    variable: 'OLLAMA_BASE_URL',
    holds: 'url',
    baseUrl: '',
    modelsVariable: 'OLLAMA_MODELS',
    timeoutMs: 300_000,
    models: [local('llama3.2')],
  },
  {
    id: 'vllm',
    kind: 'openai',
    variable: 'VLLM_BASE_URL',
    holds: 'url',
    baseUrl: '',
    modelsVariable: 'VLLM_MODELS',
    healthPath: '/health',
    timeoutMs: 300_000,
    models: [local('default')],
  },
  {
    id: 'llamacpp',
    kind: 'openai',
    variable: 'LLAMACPP_BASE_URL',
    holds: 'url',
    baseUrl: '',
    modelsVariable: 'LLAMACPP_MODELS',
    healthPath: '/health',
    timeoutMs: 300_000,
    models: [local('default')],
  },
  {
    id: 'tgi',
    kind: 'tgi',
    variable: 'TGI_BASE_URL',
    holds: 'url',
    baseUrl: '',
    modelsVariable: 'TGI_MODELS',
    timeoutMs: 300_000,
    models: [local('tgi')],
  },
];

/** A filesystem path (`/usr/share/ollama/.ollama/models`, `~/models`, `./m`, `C:\\models`), not a list of names. */
function looksLikePath(value: string): boolean {
  return /^(?:[/~.]|[A-Za-z]:[\\/])/.test(value) || value.includes('\\');
}

function set(env: CatalogEnv, name: string): string | undefined {
  const v = env[name]?.trim();
  return v === undefined || v === '' ? undefined : v;
}

function url(text: string, name: string, problems: string[]): string | undefined {
  const parsed = URL.canParse(text) ? new URL(text) : null;
  if (parsed === null || !['http:', 'https:'].includes(parsed.protocol)) {
    problems.push(`${name} must be an http(s) URL`);
    return undefined;
  }
  if (parsed.username !== '' || parsed.password !== '') {
    // As in a catalog file: a URL is shown in admin answers and exports, where a secret must never be.
    problems.push(`${name} must not hold credentials (user:password@): put the secret in the provider's key variable`);
    return undefined;
  }
  const secretParam = credentialParamOf(parsed);
  if (secretParam !== undefined) {
    problems.push(
      `${name} must not hold credentials (?${secretParam}=): put the secret in the provider's key variable`,
    );
    return undefined;
  }
  return text.replace(/\/+$/, '');
}

function presetProvider(p: EnvPreset, value: string, env: CatalogEnv, problems: string[]): ProviderSpec | undefined {
  if (p.holds === 'key' && /\s/.test(value)) {
    problems.push(`${p.variable} must be a single token (it holds whitespace)`);
    return undefined;
  }
  const rawUrl = p.holds === 'url' ? value : p.urlVariable === undefined ? undefined : set(env, p.urlVariable);
  const baseUrl =
    rawUrl === undefined ? p.baseUrl : url(rawUrl, p.holds === 'url' ? p.variable : (p.urlVariable ?? ''), problems);
  if (baseUrl === undefined) {
    return undefined;
  }
  let models = p.models;
  const names = p.modelsVariable === undefined ? undefined : set(env, p.modelsVariable);
  if (names !== undefined && p.modelsVariable !== undefined) {
    if (looksLikePath(names)) {
      // Ollama's own OLLAMA_MODELS is its models directory: an environment shared with an Ollama server has it.
      problems.push(
        `${p.modelsVariable} holds a directory, not model names (Ollama's own OLLAMA_MODELS is its models path): ` +
          'give the gateway a comma-separated list of model names, or leave it unset',
      );
      return undefined;
    }
    const list = names.split(',').map((n) => n.trim());
    if (list.some((n) => n === '' || /\s/.test(n))) {
      problems.push(`${p.modelsVariable} must be a comma-separated list of model names`);
      return undefined;
    }
    // A name given twice would be two rows of one model: the seed failed on PostgreSQL's unique constraint.
    const repeated = list.find((n, i) => list.indexOf(n) !== i);
    if (repeated !== undefined) {
      problems.push(`${p.modelsVariable} names model '${repeated}' more than once`);
      return undefined;
    }
    models = list.map(local);
  }
  return {
    id: p.id,
    kind: p.kind,
    baseUrl,
    // The reference lets a config export name the variable instead of leaving the key out.
    ...(p.holds === 'key' ? { apiKey: value, apiKeyRef: `\${${p.variable}}` } : {}),
    enabled: true,
    timeoutMs: p.timeoutMs ?? CATALOG_DEFAULTS.timeoutMs,
    maxConnections: CATALOG_DEFAULTS.maxConnections,
    routing: 'direct',
    ...(p.healthPath === undefined ? {} : { healthPath: p.healthPath }),
    models: models.map((m) => ({ ...m, capabilities: [...m.capabilities] })),
  };
}

/**
 * Variables that only change a provider another variable registers, set while that one is not: OPENAI_BASE_URL
 * without OPENAI_API_KEY (a keyless OpenAI-compatible server is VLLM_BASE_URL or LLAMACPP_BASE_URL), OLLAMA_MODELS
 * without OLLAMA_BASE_URL. Each registers nothing; the apps say so at boot rather than start without the provider
 * and without a word. As `OPENAI_BASE_URL (needs OPENAI_API_KEY)`.
 */
export function ignoredProviderVariables(env: CatalogEnv): string[] {
  return ENV_PRESETS.filter((p) => set(env, p.variable) === undefined).flatMap((p) =>
    [p.urlVariable, p.modelsVariable]
      // A directory in OLLAMA_MODELS is Ollama's own setting (its models path), not one left for the gateway.
      .filter((v): v is string => v !== undefined && set(env, v) !== undefined && !looksLikePath(set(env, v) ?? ''))
      .map((v) => `${v} (needs ${p.variable})`),
  );
}

/** The variables that register a provider, set in `env` (empty counts as unset). */
export function providerVariablesSet(env: CatalogEnv): string[] {
  return ENV_PRESETS.filter((p) => set(env, p.variable) !== undefined).map((p) => p.variable);
}

/**
 * The catalog the environment describes; null when no provider variable is set (the caller then keeps its default).
 * Throws CatalogFileError naming each bad variable.
 */
export function catalogFromEnv(env: CatalogEnv): Catalog | null {
  const problems: string[] = [];
  const providers: ProviderSpec[] = [];
  for (const p of ENV_PRESETS) {
    const value = set(env, p.variable);
    const provider = value === undefined ? undefined : presetProvider(p, value, env, problems);
    if (provider !== undefined) {
      providers.push(provider);
    }
  }
  if (problems.length > 0) {
    throw new CatalogFileError(problems, 'provider registration from the environment');
  }
  return providers.length === 0 && providerVariablesSet(env).length === 0 ? null : { providers, gateways: [] };
}
