import { CatalogFileError } from './catalog-file';
import { costOf } from './cost';
import { PROVIDER_FAMILIES } from './provider-families';
import { catalogFromEnv, ENV_PRESETS, ignoredProviderVariables, providerVariablesSet } from './provider-env';

function problemsOf(env: Record<string, string>): string[] {
  try {
    catalogFromEnv(env);
  } catch (err) {
    if (err instanceof CatalogFileError) {
      return err.problems;
    }
    throw err;
  }
  throw new Error('expected the environment to be refused');
}

describe('catalogFromEnv', () => {
  it('names the variables that change a provider no variable registers (they register nothing)', () => {
    expect(
      ignoredProviderVariables({ OPENAI_BASE_URL: 'http://vllm:8000/v1', OLLAMA_MODELS: 'llama3', VLLM_MODELS: ' ' }),
    ).toEqual(['OPENAI_BASE_URL (needs OPENAI_API_KEY)', 'OLLAMA_MODELS (needs OLLAMA_BASE_URL)']);
    expect(ignoredProviderVariables({ OPENAI_API_KEY: 'sk-a', OPENAI_BASE_URL: 'http://x/v1' })).toEqual([]);
    expect(catalogFromEnv({ OPENAI_BASE_URL: 'http://vllm:8000/v1' })).toBeNull();
  });

  it("takes a directory in OLLAMA_MODELS for Ollama's own setting (its models path), not for model names", () => {
    // An environment shared with an Ollama server: nothing left for the gateway, so no warning.
    expect(ignoredProviderVariables({ OLLAMA_MODELS: '/usr/share/ollama/.ollama/models' })).toEqual([]);
    for (const dir of ['/usr/share/ollama/.ollama/models', '~/.ollama/models', 'C:\\Users\\me\\.ollama\\models']) {
      expect(problemsOf({ OLLAMA_BASE_URL: 'http://127.0.0.1:11434', OLLAMA_MODELS: dir })).toEqual([
        "OLLAMA_MODELS holds a directory, not model names (Ollama's own OLLAMA_MODELS is its models path): give the " +
          'gateway a comma-separated list of model names, or leave it unset',
      ]);
    }
    // Names with a namespace or a tag are names.
    const names = catalogFromEnv({ OLLAMA_BASE_URL: 'http://o:11434', OLLAMA_MODELS: 'hf.co/acme/m:q4,llama3.2:1b' });
    expect(names?.providers[0].models.map((m) => m.name)).toEqual(['hf.co/acme/m:q4', 'llama3.2:1b']);
  });

  it('is null when no provider variable is set (empty ones count as unset)', () => {
    expect(catalogFromEnv({ PATH: '/bin', OPENAI_API_KEY: '' })).toBeNull();
    expect(providerVariablesSet({ OPENAI_API_KEY: ' ' })).toEqual([]);
  });

  it('registers each provider whose variable is set, with its default models and prices', () => {
    const catalog = catalogFromEnv({
      DEEPSEEK_API_KEY: 'sk-deep',
      GEMINI_API_KEY: 'AIza-g',
      OLLAMA_BASE_URL: 'http://127.0.0.1:11434/',
      OLLAMA_MODELS: 'llama3.2, qwen2.5:7b',
      LLAMACPP_BASE_URL: 'http://127.0.0.1:8080/v1',
    });
    expect(catalog?.providers.map((p) => [p.id, p.kind, p.baseUrl])).toEqual([
      ['deepseek', 'openai', 'https://api.deepseek.com'],
      ['gemini', 'gemini', 'https://generativelanguage.googleapis.com/v1beta'],
      ['ollama', 'ollama', 'http://127.0.0.1:11434'],
      ['llamacpp', 'openai', 'http://127.0.0.1:8080/v1'],
    ]);
    const deepseek = catalog?.providers[0];
    expect(deepseek?.apiKey).toBe('sk-deep');
    expect(deepseek?.models[0]).toMatchObject({
      name: 'deepseek-chat',
      promptPer1k: 0.00028,
      completionPer1k: 0.00042,
    });
    const ollama = catalog?.providers[2];
    expect(ollama?.apiKey).toBeUndefined();
    expect(ollama?.models.map((m) => [m.name, m.promptPer1k, m.completionPer1k])).toEqual([
      ['llama3.2', 0, 0],
      ['qwen2.5:7b', 0, 0],
    ]);
    expect(catalog?.providers[3].healthPath).toBe('/health');
  });

  it("prices DeepSeek's models at its list prices per 1M tokens / 1000, its prompt cache hits at the hit price", () => {
    // DeepSeek's list (V3.2, both models): $0.28 per 1M prompt tokens, $0.028 per 1M served from its prompt cache
    // (`prompt_cache_hit_tokens`), $0.42 per 1M completion tokens. The defaults were $1.40 and $2.80 per 1M (ten times
    // the $0.14 / $0.28 of its first list: a per-1M price divided by 100, not 1000), cache hits at the full price.
    const deepseek = catalogFromEnv({ DEEPSEEK_API_KEY: 'sk-deep' })?.providers[0];
    for (const name of ['deepseek-chat', 'deepseek-reasoner']) {
      const model = deepseek?.models.find((m) => m.name === name);
      expect(model).toMatchObject({ promptPer1k: 0.00028, cachedPromptPer1k: 0.000028, completionPer1k: 0.00042 });
      // 1M prompt tokens of which 900K cache hits, and 1M completion tokens: 0.028 + 0.0252 + 0.42.
      const usage = {
        promptTokens: 1_000_000,
        cachedPromptTokens: 900_000,
        completionTokens: 1_000_000,
        totalTokens: 2_000_000,
      };
      expect(costOf(usage, model!)).toBe(0.4732);
    }
  });

  it('fails naming every bad variable', () => {
    expect(
      problemsOf({
        OLLAMA_BASE_URL: 'localhost:11434',
        OPENAI_API_KEY: 'sk-a b',
        TGI_BASE_URL: 'http://t',
        TGI_MODELS: 'a,,b',
      }),
    ).toEqual([
      'OPENAI_API_KEY must be a single token (it holds whitespace)',
      'OLLAMA_BASE_URL must be an http(s) URL',
      'TGI_MODELS must be a comma-separated list of model names',
    ]);
    expect(problemsOf({ VLLM_BASE_URL: 'http://v:8000/v1', VLLM_MODELS: 'qwen, llama, qwen' })).toEqual([
      "VLLM_MODELS names model 'qwen' more than once",
    ]);
    expect(problemsOf({ OPENAI_API_KEY: 'sk-a', OPENAI_BASE_URL: 'ftp://x' })).toEqual([
      'OPENAI_BASE_URL must be an http(s) URL',
    ]);
    // A URL is shown in admin answers and exports: a password in it is refused, as in a catalog file.
    expect(problemsOf({ OLLAMA_BASE_URL: 'http://u:EnvUrlPW@127.0.0.1:11434' })).toEqual([
      "OLLAMA_BASE_URL must not hold credentials (user:password@): put the secret in the provider's key variable",
    ]);
    expect(problemsOf({ OLLAMA_BASE_URL: 'http://127.0.0.1:11434?access_token=EnvUrlTok' })).toEqual([
      "OLLAMA_BASE_URL must not hold credentials (?access_token=): put the secret in the provider's key variable",
    ]);
  });

  it('declares only capabilities each family can honour', () => {
    for (const p of ENV_PRESETS) {
      for (const m of p.models) {
        const extra = m.capabilities.filter((c) => !PROVIDER_FAMILIES[p.kind].capabilities.includes(c));
        expect([p.id, m.name, extra]).toEqual([p.id, m.name, []]);
      }
    }
  });
});
