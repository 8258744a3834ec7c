import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CatalogFileError,
  catalogToJson,
  catalogToYaml,
  DEFAULT_KEY_VARIABLES,
  keyVariableAllowed,
  loadCatalogFile,
  parseCatalog,
  readCatalogDocument,
  readConnectionSettings,
  secretReferenceOf,
} from './catalog-file';
import { ENV_PRESETS } from './provider-env';

const MINIMAL = `
providers:
  - id: openai
    kind: openai
    baseUrl: https://api.openai.com/v1/
    apiKey: \${OPENAI_API_KEY}
    models:
      - name: gpt-4o-mini
        promptPer1k: 0.00015
        completionPer1k: 0.0006
        contextWindow: 128000
`;

function problemsOf(yaml: string, env: Record<string, string | undefined> = {}): string[] {
  try {
    parseCatalog(yaml, env);
  } catch (err) {
    if (err instanceof CatalogFileError) {
      return err.problems;
    }
    throw err;
  }
  throw new Error('expected the catalog to be rejected');
}

describe('parseCatalog', () => {
  it('applies defaults, interpolates and trims trailing slashes', () => {
    const catalog = parseCatalog(MINIMAL, { OPENAI_API_KEY: 'sk-test' });
    expect(catalog).toEqual({
      gateways: [],
      providers: [
        {
          id: 'openai',
          kind: 'openai',
          baseUrl: 'https://api.openai.com/v1',
          apiKey: 'sk-test',
          apiKeyRef: '${OPENAI_API_KEY}',
          enabled: true,
          timeoutMs: 60000,
          maxConnections: 128,
          routing: 'direct',
          models: [
            {
              name: 'gpt-4o-mini',
              promptPer1k: 0.00015,
              completionPer1k: 0.0006,
              contextWindow: 128000,
              capabilities: ['chat', 'streaming'],
              enabled: true,
            },
          ],
        },
      ],
    });
  });

  it('reads every optional field, gateways included', () => {
    const catalog = parseCatalog(
      `
gateways:
  - id: litellm
    baseUrl: \${LITELLM_URL:-http://litellm:4000}/v1
    apiKey: \${LITELLM_KEY}
    timeoutMs: 30000
providers:
  - id: zai
    kind: openai
    baseUrl: https://api.z.ai/api/coding/paas/v4
    enabled: false
    timeoutMs: "\${ZAI_TIMEOUT:-45000}"
    maxConnections: 16
    routing: gateway
    gateway: litellm
    models:
      - name: glm-4.6
        upstreamName: zai/glm-4.6
        promptPer1k: 0.0006
        completionPer1k: 0.0022
        cachedPromptPer1k: 0.00011
        contextWindow: 200000
        capabilities: [chat, streaming, tools, tools]
        quality: 0.8
        enabled: "\${GLM_ENABLED:-false}"
`,
      { LITELLM_KEY: 'lk' },
    );
    expect(catalog.gateways).toEqual([
      { id: 'litellm', baseUrl: 'http://litellm:4000/v1', apiKey: 'lk', apiKeyRef: '${LITELLM_KEY}', timeoutMs: 30000 },
    ]);
    const [zai] = catalog.providers;
    expect(zai).toMatchObject({
      enabled: false,
      timeoutMs: 45000,
      maxConnections: 16,
      routing: 'gateway',
      gateway: 'litellm',
    });
    expect(zai.apiKey).toBeUndefined();
    expect(zai.models[0]).toEqual({
      name: 'glm-4.6',
      upstreamName: 'zai/glm-4.6',
      promptPer1k: 0.0006,
      completionPer1k: 0.0022,
      cachedPromptPer1k: 0.00011,
      contextWindow: 200000,
      capabilities: ['chat', 'streaming', 'tools'],
      quality: 0.8,
      enabled: false,
    });
  });

  it('reads display names, a description and the recommended flag (false is left out)', () => {
    const catalog = parseCatalog(
      `
providers:
  - id: openai
    displayName: OpenAI
    kind: openai
    baseUrl: https://api.openai.com/v1
    models:
      - { name: a, displayName: Model A, description: The first one., recommended: true, promptPer1k: 1, completionPer1k: 1, contextWindow: 10 }
      - { name: b, recommended: false, promptPer1k: 1, completionPer1k: 1, contextWindow: 10 }
`,
      {},
    );
    const [provider] = catalog.providers;
    expect(provider.displayName).toBe('OpenAI');
    expect(provider.models[0]).toMatchObject({
      displayName: 'Model A',
      description: 'The first one.',
      recommended: true,
    });
    expect(provider.models[1]).not.toHaveProperty('recommended');
    expect(provider.models[1]).not.toHaveProperty('displayName');
    expect(
      problemsOf(MINIMAL.replace('contextWindow: 128000', 'contextWindow: 128000\n        recommended: maybe'), {
        OPENAI_API_KEY: 'k',
      }),
    ).toEqual(['providers[0].models[0].recommended must be true or false']);
  });

  it('uses the default when the variable is empty, as sh does, and substitutes anywhere in a string', () => {
    const yaml = MINIMAL.replace('https://api.openai.com/v1/', '${SCHEME:-https}://${HOST:-api.openai.com}/v1');
    const catalog = parseCatalog(yaml, { OPENAI_API_KEY: 'k', SCHEME: '', HOST: 'proxy.local:8080' });
    expect(catalog.providers[0].baseUrl).toBe('https://proxy.local:8080/v1');
  });

  it('treats a key that interpolates to an empty string as no key', () => {
    const catalog = parseCatalog(MINIMAL.replace('${OPENAI_API_KEY}', '${OPENAI_API_KEY:-}'), {});
    expect(catalog.providers[0].apiKey).toBeUndefined();
  });

  it('names the variable and the provider when a reference cannot be resolved', () => {
    const problems = problemsOf(MINIMAL);
    expect(problems).toEqual([
      "providers[0].apiKey references environment variable OPENAI_API_KEY, which is not set and has no default (provider 'openai')",
    ]);
  });

  it('takes an empty variable as unset: `${VAR}` of an empty one was quietly no key at all', () => {
    expect(problemsOf(MINIMAL, { OPENAI_API_KEY: '' })).toEqual([
      "providers[0].apiKey references environment variable OPENAI_API_KEY, which is empty and has no default (provider 'openai')",
    ]);
  });

  it("refuses, from the admin API and imports, an apiKey naming any of the gateway's own secrets", () => {
    const env = {
      DATABASE_URL: 'postgres://u:db-password@db/aigw',
      REDIS_URL: 'redis://:redis-password@redis:6379',
      CACHE_REDIS_URL: 'redis://:cache-password@cache:6379',
      ALERT_WEBHOOK_URL: 'https://hooks.example/T000/B000/webhook-token',
      BOOTSTRAP_ADMIN_KEY: 'sk-aigw-admin',
      SECRETS_KEY: 'k'.repeat(32),
      PGPASSWORD: 'pg-password',
      REDIS_PASSWORD: 'keda-redis-password',
      REDIS_ADDRESS: 'redis:6379',
      SECRETS_KEY_PREVIOUS: 'p'.repeat(32),
      SMTP_PASSWORD: 'smtp-password',
    };
    for (const name of Object.keys(env)) {
      const yaml = MINIMAL.replace('${OPENAI_API_KEY}', `\${${name}}`);
      let problems: string[] = [];
      try {
        parseCatalog(yaml, env, undefined, { environment: 'apiKeyOnly' });
      } catch (err) {
        problems = err instanceof CatalogFileError ? err.problems : [String(err)];
      }
      expect([name, problems]).toEqual([
        name,
        [`providers[0].apiKey must not reference the gateway's own secret ${name}`],
      ]);
    }
    // An operator's own file reads whatever it names.
    expect(parseCatalog(MINIMAL.replace('${OPENAI_API_KEY}', '${CACHE_REDIS_URL}'), env).providers[0].apiKey).toBe(
      env.CACHE_REDIS_URL,
    );
  });

  it('reads, from the admin API and imports, only the apiKey variables keyVariables lists (ADMIN_KEY_VARIABLES)', () => {
    const env = { AWS_SECRET_ACCESS_KEY: 'aws-secret', HOME: '/root', GITHUB_TOKEN: 'ghp', OPENAI_API_KEY: 'sk' };
    const keyed = (apiKey: string) => MINIMAL.replace('${OPENAI_API_KEY}', apiKey);
    const refused = (name: string) =>
      `providers[0].apiKey must not reference environment variable ${name}: the admin API and imports may only ` +
      'name the variables ADMIN_KEY_VARIABLES lists (*_API_KEY,HF_TOKEN); set the key itself, or have the operator ' +
      'add the variable there';
    for (const name of ['AWS_SECRET_ACCESS_KEY', 'HOME', 'GITHUB_TOKEN']) {
      let problems: string[] = [];
      try {
        parseCatalog(keyed(`\${${name}}`), env, undefined, { environment: 'apiKeyOnly' });
      } catch (err) {
        problems = err instanceof CatalogFileError ? err.problems : [String(err)];
      }
      expect([name, problems]).toEqual([name, [refused(name)]]);
    }
    // In any spelling that reads it, and each one named once; a variable that is not set is refused all the same.
    expect(() =>
      parseCatalog(keyed('${HOME:-x}/${UNSET_VAR}${HOME}'), env, undefined, { environment: 'apiKeyOnly' }),
    ).toThrow(new RegExp(`apiKey must not reference environment variable HOME:[^]*UNSET_VAR:`));
    expect(
      parseCatalog(keyed('${OPENAI_API_KEY}'), env, undefined, { environment: 'apiKeyOnly' }).providers[0].apiKey,
    ).toBe('sk');
    expect(
      parseCatalog(keyed('${HOME}'), env, undefined, { environment: 'apiKeyOnly', keyVariables: ['HOME'] }).providers[0]
        .apiKey,
    ).toBe('/root');
    // An operator's own file reads whatever it names.
    expect(parseCatalog(keyed('${AWS_SECRET_ACCESS_KEY}'), env).providers[0].apiKey).toBe('aws-secret');
    // A connection test of unsaved settings reads its key as a save would.
    expect(() =>
      readConnectionSettings({ baseUrl: 'http://127.0.0.1:9', apiKey: '${GITHUB_TOKEN}' }, env, {
        environment: 'apiKeyOnly',
      }),
    ).toThrow(/^Invalid configuration:\n {2}- apiKey must not reference environment variable GITHUB_TOKEN:/);
  });

  it("accepts an apiKey reference stored for the same entry (stored.apiKeyRef), and only that entry's", () => {
    const env = { HOME: '/root' };
    const stored = {
      providers: [{ id: 'p', baseUrl: 'http://127.0.0.1:9', apiKeyRef: '${HOME}' }],
      gateways: [{ id: 'gw', baseUrl: 'http://127.0.0.1:9', apiKeyRef: '${HOME}' }],
    };
    const doc = (providerId: string, gatewayId: string) => ({
      gateways: [{ id: gatewayId, baseUrl: 'http://127.0.0.1:9', apiKey: '${HOME}' }],
      providers: [{ id: providerId, kind: 'ollama', baseUrl: 'http://127.0.0.1:9', apiKey: '${HOME}' }],
    });
    const options = { environment: 'apiKeyOnly', stored } as const;
    const read = readCatalogDocument(doc('p', 'gw'), env, undefined, options);
    expect([read.providers[0].apiKeyRef, read.gateways[0].apiKey]).toEqual(['${HOME}', '/root']);
    // Another id, or a provider with a gateway's id: checked.
    expect(() => readCatalogDocument(doc('gw', 'p'), env, undefined, options)).toThrow(
      /gateways\[0\]\.apiKey must not reference environment variable HOME[^]*providers\[0\]\.apiKey must not/,
    );
    // A connection test of changed settings of provider p reads them as a change of p, those of gateway gw as a
    // change of gw: of none, or of an id of the other kind (a provider id is looked up among the providers, a
    // gateway's among the gateways), as a new entry.
    const settings = { baseUrl: 'http://127.0.0.1:9', apiKey: '${HOME}' };
    expect(readConnectionSettings(settings, env, options, { providerId: 'p' }).apiKey).toBe('/root');
    expect(readConnectionSettings(settings, env, options, { gatewayId: 'gw' }).apiKey).toBe('/root');
    for (const of of [undefined, { providerId: 'gw' }, { gatewayId: 'p' }]) {
      expect(() => readConnectionSettings(settings, env, options, of)).toThrow(
        /^Invalid configuration:\n {2}- apiKey must not reference environment variable HOME:/,
      );
    }
  });

  it('lets the default ADMIN_KEY_VARIABLES name every zero-config provider key (provider-env.ts)', () => {
    const keys = ENV_PRESETS.filter((p) => p.holds === 'key').map((p) => p.variable);
    expect(keys).toContain('HF_TOKEN');
    expect(keys.filter((name) => !keyVariableAllowed(name, DEFAULT_KEY_VARIABLES))).toEqual([]);
    expect(
      ['OPENAI_BASE_URL', 'AWS_SECRET_ACCESS_KEY', 'OPENAI_API_KEYS', 'HF_TOKEN_2', 'hf_token'].filter((name) =>
        keyVariableAllowed(name, DEFAULT_KEY_VARIABLES),
      ),
    ).toEqual([]);
    expect(keyVariableAllowed('ANY', ['*'])).toBe(true);
    expect(keyVariableAllowed('MY_LLM_KEY', ['MY_*_KEY'])).toBe(true);
    expect(keyVariableAllowed('MY_LLM_KEYS', ['MY_*_KEY'])).toBe(false);
    expect(keyVariableAllowed('A_B_A_B_C', ['*A_B*C'])).toBe(true);
    expect(keyVariableAllowed('XAB', ['*A*B*'])).toBe(true);
    expect(keyVariableAllowed('XBA', ['*A*B'])).toBe(false);
    expect(keyVariableAllowed('', ['*'])).toBe(true);
  });

  it('matches patterns with many stars in steps, not by backtracking (an admin chooses the name)', () => {
    // A regex of `.*` per star took 183 ms with a 41-character name, growing as the name's length to the power of the
    // stars: with this one it never came back within the test's timeout.
    const name = `${'A'.repeat(160)}!`;
    expect(keyVariableAllowed(name, ['*A*A*A*A*A*A*A*B'])).toBe(false);
  });

  it('bounds prices by what the database column holds (numeric(18,9)): a larger one was a 500 from the admin API', () => {
    const priced = (v: string) => MINIMAL.replace('promptPer1k: 0.00015', `promptPer1k: ${v}`);
    expect(problemsOf(priced('1e308'), { OPENAI_API_KEY: 'k' })).toEqual([
      'providers[0].models[0].promptPer1k must be a number between 0 and 1000000',
    ]);
    expect(parseCatalog(priced('1000000'), { OPENAI_API_KEY: 'k' }).providers[0].models[0].promptPer1k).toBe(1_000_000);
  });

  it('rejects malformed references', () => {
    expect(problemsOf(MINIMAL.replace('${OPENAI_API_KEY}', '${OPENAI_API_KEY'))).toEqual([
      'providers[0].apiKey has an unterminated or nested ${...} reference',
    ]);
    expect(problemsOf(MINIMAL.replace('${OPENAI_API_KEY}', '${1BAD}'))).toEqual([
      "providers[0].apiKey has an invalid variable reference '${1BAD}'",
    ]);
  });

  it('reports every problem at once, each with its path', () => {
    const problems = problemsOf(
      `
providers:
  - id: a
    kind: cohere
    baseUrl: ftp://example.com
    routing: sideways
    timeoutMs: 0
    maxConnections: 1.5
    enabled: maybe
    models:
      - name: m
        promptPer1k: -1
        completionPer1k: cheap
        contextWindow: 0
        capabilities: [chat, telepathy]
        quality: 2
      - name: m
        promptPer1k: 0
        completionPer1k: 0
        contextWindow: 10
      - promptPer1k: 0
  - id: a/b
    kind: openai
    baseUrl: not a url
`,
      {},
    );
    expect(problems).toEqual([
      'providers[0].kind must be one of: openai, anthropic, gemini, ollama, tgi, plugin',
      'providers[0].baseUrl must be a valid http(s) URL',
      'providers[0].enabled must be true or false',
      'providers[0].timeoutMs must be an integer between 1 and 2147483647',
      'providers[0].maxConnections must be an integer between 1 and 2147483647',
      'providers[0].routing must be one of: direct, gateway, auto',
      'providers[0].models[0].promptPer1k must be a number between 0 and 1000000',
      'providers[0].models[0].completionPer1k must be a number between 0 and 1000000',
      'providers[0].models[0].contextWindow must be an integer between 1 and 2147483647',
      'providers[0].models[0].capabilities[1] must be one of: chat, streaming, tools, vision, json, embeddings',
      'providers[0].models[0].quality must be a number between 0 and 1',
      "providers[0].models[1].name duplicates model 'm' of provider 'a'",
      'providers[0].models[2].name is required',
      'providers[0].models[2].completionPer1k is required',
      'providers[0].models[2].contextWindow is required',
      "providers[1].id must start with a letter or digit and hold only letters, digits, '.', '_' or '-' (no '/')",
      'providers[1].baseUrl must be a valid http(s) URL',
    ]);
  });

  it('rejects duplicate provider ids and duplicate gateway ids', () => {
    const provider = MINIMAL.split('providers:\n')[1];
    const problems = problemsOf(
      `gateways:
  - { id: g, baseUrl: "http://g" }
  - { id: g, baseUrl: "http://g2" }
providers:
${provider}${provider}`,
      { OPENAI_API_KEY: 'k' },
    );
    expect(problems).toEqual([
      "gateways[1].id duplicates gateway id 'g'",
      "providers[1].id duplicates provider id 'openai'",
    ]);
  });

  it('requires an existing gateway for gateway and auto routing', () => {
    const env = { OPENAI_API_KEY: 'k' };
    expect(problemsOf(MINIMAL.replace('kind: openai', 'kind: openai\n    routing: auto'), env)).toEqual([
      "providers[0].gateway is required when routing is 'auto'",
    ]);
    expect(
      problemsOf(MINIMAL.replace('kind: openai', 'kind: openai\n    routing: gateway\n    gateway: nope'), env),
    ).toEqual(["providers[0].gateway references unknown gateway 'nope'"]);
  });

  it("reads a model's cache settings and rejects bad ones naming the field", () => {
    const env = { OPENAI_API_KEY: 'k' };
    const withCache = (cache: string): string =>
      MINIMAL.replace('contextWindow: 128000', `contextWindow: 128000\n        cache: ${cache}`);
    const model = (yaml: string) => parseCatalog(yaml, env).providers[0].models[0];
    expect(model(withCache('{ enabled: true, ttlS: 60 }')).cache).toEqual({ enabled: true, ttlS: 60 });
    expect(model(withCache('{ enabled: false }')).cache).toEqual({ enabled: false });
    expect(model(withCache('{ staleTtlS: 600 }')).cache).toEqual({ staleTtlS: 600 });
    expect(model(withCache('{ staleTtlS: 0 }')).cache).toEqual({ staleTtlS: 0 });
    expect(model(withCache('{}')).cache).toBeUndefined();
    expect(model(MINIMAL).cache).toBeUndefined();
    expect(problemsOf(withCache('{ enabled: maybe, ttlS: 0, staleTtlS: -1 }'), env)).toEqual([
      'providers[0].models[0].cache.enabled must be true or false',
      'providers[0].models[0].cache.ttlS must be an integer between 1 and 31536000',
      'providers[0].models[0].cache.staleTtlS must be an integer between 0 and 31536000',
    ]);
    expect(problemsOf(withCache('{ ttl: 5 }'), env)[0]).toMatch(
      /^providers\[0\]\.models\[0\]\.cache has unknown key 'ttl'/,
    );
    expect(problemsOf(withCache('true'), env)).toEqual(['providers[0].models[0].cache must be a mapping']);
  });

  it('rejects unknown keys, so a typo cannot silently drop a setting', () => {
    const problems = problemsOf(
      MINIMAL.replace('contextWindow: 128000', 'contextWindow: 128000\n        cachedPromptPer1K: 0'),
      {
        OPENAI_API_KEY: 'k',
      },
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^providers\[0\]\.models\[0\] has unknown key 'cachedPromptPer1K'/);
  });

  it('rejects empty documents, wrong shapes, empty capability lists and a missing providers list', () => {
    expect(problemsOf('')).toEqual(["is empty: expected a top-level 'providers:' list"]);
    expect(problemsOf('- a\n- b')).toEqual(['(top level) must be a mapping']);
    expect(problemsOf('gateways: []')).toEqual(['providers is required (a list of providers)']);
    expect(problemsOf('providers: {}')).toEqual(['providers must be a list']);
    expect(problemsOf('providers: [42]')).toEqual(['providers[0] must be a mapping']);
    expect(
      problemsOf(MINIMAL.replace('contextWindow: 128000', 'contextWindow: 128000\n        capabilities: []'), {
        OPENAI_API_KEY: 'k',
      }),
    ).toEqual(['providers[0].models[0].capabilities must not be empty']);
  });

  it('accepts an empty providers list (providers managed through the admin API only)', () => {
    expect(parseCatalog('providers: []', {})).toEqual({ providers: [], gateways: [] });
  });

  it('reports YAML syntax errors by line without quoting the file', () => {
    const yaml = 'providers:\n  - id: x\n    apiKey: sk-literal-secret\n   bad: [';
    expect(() => parseCatalog(yaml, {})).toThrow(/is not valid YAML at line \d+/);
    try {
      parseCatalog(yaml, {});
    } catch (err) {
      expect((err as Error).message).not.toContain('sk-literal-secret');
      expect((err as Error).cause).toBeDefined();
    }
  });

  it('refuses a key an HTTP header cannot carry, without echoing it; a gateway key too', () => {
    for (const key of ['sk-abc\ndef', '\u201csk-abc\u201d']) {
      const problems = problemsOf(MINIMAL, { OPENAI_API_KEY: key });
      expect(problems).toEqual([
        'providers[0].apiKey holds a character an HTTP header cannot carry (a line break, or one beyond Latin-1)',
      ]);
      expect(problems.join('\n')).not.toContain('abc');
      const gateway = { gateways: [{ id: 'gw', baseUrl: 'http://gw', apiKey: key }], providers: [] };
      expect(() => readCatalogDocument(gateway, {})).toThrow(/gateways\[0\]\.apiKey holds a character/);
    }
    // Latin-1 beyond ASCII and tabs are sendable.
    expect(parseCatalog(MINIMAL, { OPENAI_API_KEY: 'sk-\u00e9\tx' }).providers[0].apiKey).toBe('sk-\u00e9\tx');
  });

  it('refuses a credential in a URL query (shown in answers, exports and logs), keeping other parameters', () => {
    for (const [query, name] of [
      ['?api-key=UrlSecret1', 'api-key'],
      ['?key=UrlSecret1', 'key'],
      ['?api-version=2024-10-21&access_token=UrlSecret1', 'access_token'],
      ['?SIG=UrlSecret1', 'SIG'],
    ]) {
      const problems = problemsOf(MINIMAL.replace('https://api.openai.com/v1/', `https://proxy.local/v1${query}`), {
        OPENAI_API_KEY: 'sk-test',
      });
      expect(problems).toEqual([
        `providers[0].baseUrl must not hold credentials (?${name}=): put the secret in apiKey`,
      ]);
      expect(problems.join('\n')).not.toContain('UrlSecret1');
    }
    const gateway = { gateways: [{ id: 'gw', baseUrl: 'http://gw/v1?token=UrlSecret1' }], providers: [] };
    expect(() => readCatalogDocument(gateway, {})).toThrow(
      /gateways\[0\]\.baseUrl must not hold credentials \(\?token=\)/,
    );
    // Azure OpenAI's version parameter is not a secret.
    const azure = MINIMAL.replace(
      'https://api.openai.com/v1/',
      'https://x.openai.azure.com/openai?api-version=2024-10-21',
    );
    expect(parseCatalog(azure, { OPENAI_API_KEY: 'sk-test' }).providers[0].baseUrl).toBe(
      'https://x.openai.azure.com/openai?api-version=2024-10-21',
    );
  });

  it('refuses a baseUrl at a link-local or metadata address (every call there is refused), unless allowed', () => {
    const at = (url: string) => MINIMAL.replace('https://api.openai.com/v1/', url);
    const env = { OPENAI_API_KEY: 'sk-test' };
    for (const url of ['http://169.254.169.254/latest', 'http://[::ffff:169.254.169.254]/v1', 'http://0xa9fea9fe/']) {
      expect(problemsOf(at(url), env)).toEqual([
        "providers[0].baseUrl is at a link-local or cloud metadata address, where every call is refused (provider 'openai'): " +
          'set PROVIDER_ALLOW_LINK_LOCAL=true to allow it, on the api-gateway as on the router-worker and the ' +
          'health-monitor (a host name resolving to one is only refused when called)',
      ]);
      expect(parseCatalog(at(url), env, undefined, { allowLinkLocal: true }).providers[0].baseUrl).toBe(
        url.replace(/\/+$/, ''),
      );
    }
    // Loopback, private addresses and names are not refused here (a name is checked on what it resolves to, at call).
    for (const url of [
      'http://127.0.0.1:11434',
      'http://[::1]:8000/v1',
      'http://10.0.0.5/v1',
      'http://metadata.google.internal',
    ]) {
      expect(parseCatalog(at(url), env).providers[0].baseUrl).toBe(url);
    }
    const gateway = { gateways: [{ id: 'gw', baseUrl: 'http://[fd00:ec2::254]/v1' }], providers: [] };
    expect(() => readCatalogDocument(gateway, {})).toThrow(
      /gateways\[0\]\.baseUrl is at a link-local .*\(gateway 'gw'\)/,
    );
    // Stored gateways a provider document is read against pass as stored; the provider's own new URL does not.
    const storedGateways = { providers: [], gateways: [{ id: 'gw', baseUrl: 'http://[fd00:ec2::254]/v1' }] };
    expect(readCatalogDocument(gateway, {}, undefined, { stored: storedGateways }).gateways[0].baseUrl).toBe(
      'http://[fd00:ec2::254]/v1',
    );
    expect(() =>
      readCatalogDocument(
        { gateways: [], providers: [{ id: 'p', kind: 'ollama', baseUrl: 'http://169.254.169.254' }] },
        {},
        undefined,
        { stored: storedGateways },
      ),
    ).toThrow(/providers\[0\]\.baseUrl is at a link-local/);
    // A connection test of such settings runs, and reports the call's refusal.
    expect(readConnectionSettings({ baseUrl: 'http://169.254.169.254/' }, {}).baseUrl).toBe('http://169.254.169.254');
  });

  it('accepts a link-local baseUrl stored so already for the same entry (stored), and only that one', () => {
    const stored = {
      providers: [{ id: 'p', baseUrl: 'http://169.254.10.20/v1' }],
      gateways: [{ id: 'gw', baseUrl: 'http://169.254.10.21' }],
    };
    const doc = (providerUrl: string, gatewayUrl = 'http://169.254.10.21/', providerId = 'p') => ({
      gateways: [{ id: 'gw', baseUrl: gatewayUrl }],
      providers: [{ id: providerId, kind: 'ollama', baseUrl: providerUrl }],
    });
    // As read: a trailing slash dropped.
    const read = readCatalogDocument(doc('http://169.254.10.20/v1/'), {}, undefined, { stored });
    expect([read.providers[0].baseUrl, read.gateways[0].baseUrl]).toEqual([
      'http://169.254.10.20/v1',
      'http://169.254.10.21',
    ]);
    // Changed, under another id, or a provider at the gateway's URL: checked.
    expect(() => readCatalogDocument(doc('http://169.254.10.22/v1'), {}, undefined, { stored })).toThrow(
      /providers\[0\]\.baseUrl is at a link-local/,
    );
    expect(() =>
      readCatalogDocument(doc('http://169.254.10.20/v1', undefined, 'q'), {}, undefined, { stored }),
    ).toThrow(/providers\[0\]\.baseUrl is at a link-local/);
    expect(() =>
      readCatalogDocument(doc('http://169.254.10.20/v1', 'http://169.254.10.20/v1'), {}, undefined, { stored }),
    ).toThrow(/gateways\[0\]\.baseUrl is at a link-local/);
  });

  it('refuses a lone surrogate (a YAML \\uD800 escape) in a string field, keeps a pair, and keeps the messages well-formed', () => {
    // Double-quoted YAML reads \uD800 escapes one by one: a lone one became a string PostgreSQL stores as U+FFFD.
    const yaml = MINIMAL.replace('- name: gpt-4o-mini', '- name: "gpt-4o-mini"\n        displayName: "a\\ud800"');
    expect(problemsOf(yaml, { OPENAI_API_KEY: 'sk-test' })).toEqual([
      'providers[0].models[0].displayName must not contain a lone UTF-16 surrogate (a \\uD800-\\uDFFF escape not ' +
        'part of a pair): write the whole character, or U+FFFD',
    ]);
    for (const [field, where] of [
      ['id: openai', 'providers[0].id'],
      ['kind: openai', 'providers[0].kind'],
      ['baseUrl: https://api.openai.com/v1/', 'providers[0].baseUrl'],
    ]) {
      const [key, value] = field.split(': ');
      const bad = MINIMAL.replace(field, `${key}: "${value}\\uDC00"`);
      expect(problemsOf(bad, { OPENAI_API_KEY: 'sk-test' })[0]).toMatch(
        new RegExp(`^${where.replace(/[[\].]/g, '\\$&')} must not contain a lone UTF-16 surrogate`),
      );
    }
    // An unknown key holding one is refused as unknown, its echo made well-formed (U+FFFD in the surrogate's place).
    const key = problemsOf(MINIMAL.replace('kind: openai', 'kind: openai\n    "x\\ud800": 1'), {
      OPENAI_API_KEY: 'sk-test',
    });
    expect(key).toEqual([expect.stringContaining("has unknown key 'x\uFFFD'")]);
    // A pair, escaped or written whole, is one character and is kept.
    const pair = parseCatalog(
      MINIMAL.replace('- name: gpt-4o-mini', '- name: "gpt-4o-mini"\n        displayName: "a\\ud83d\\ude00 \u{1F600}"'),
      {
        OPENAI_API_KEY: 'sk-test',
      },
    );
    expect(pair.providers[0].models[0].displayName).toBe('a\u{1F600} \u{1F600}');
  });

  it('never echoes values in messages', () => {
    const problems = problemsOf(MINIMAL.replace('https://api.openai.com/v1/', 'https//secret-token@host'), {
      OPENAI_API_KEY: 'sk-very-secret',
    });
    expect(problems.join('\n')).not.toMatch(/secret/);
  });
});

describe('shipped catalogs', () => {
  const config = join(__dirname, '../../../config');

  it('the example holds a disabled Z.ai template routed through the LiteLLM gateway', () => {
    const catalog = loadCatalogFile(join(config, 'providers.example.yaml'), {
      OPENAI_API_KEY: 'k1',
      ANTHROPIC_API_KEY: 'k2',
    });
    expect(catalog.gateways.map((g) => g.id)).toEqual(['litellm']);
    expect(catalog.providers.find((p) => p.id === 'zai')).toMatchObject({
      kind: 'openai',
      baseUrl: 'https://api.z.ai/api/coding/paas/v4',
      routing: 'gateway',
      gateway: 'litellm',
      enabled: false,
    });
    expect(catalog.providers.find((p) => p.id === 'local')?.enabled).toBe(false);
  });

  it("the example prices Anthropic's cache writes and DeepSeek's cache hits, as its comments say", () => {
    const catalog = loadCatalogFile(join(config, 'providers.example.yaml'), {
      OPENAI_API_KEY: 'k1',
      ANTHROPIC_API_KEY: 'k2',
    });
    const models = (id: string) => catalog.providers.find((p) => p.id === id)?.models ?? [];
    // Anthropic bills a cache write at 1.25x the input price ($1 per 1M for Haiku 3.5, $3.75 for Sonnet 4): without
    // cacheWritePer1k every write was billed at the input price, a quarter under what Anthropic charged.
    expect(models('anthropic').map((m) => [m.name, m.cacheWritePer1k])).toEqual([
      ['claude-3-5-haiku', 0.001],
      ['claude-sonnet-4', 0.00375],
    ]);
    // DeepSeek: $0.28 / $0.028 (cache hit) / $0.42 per 1M tokens.
    expect(models('deepseek').map((m) => [m.name, m.promptPer1k, m.cachedPromptPer1k, m.completionPer1k])).toEqual([
      ['deepseek-chat', 0.00028, 0.000028, 0.00042],
      ['deepseek-reasoner', 0.00028, 0.000028, 0.00042],
    ]);
  });

  it('the example needs the OpenAI and Anthropic keys', () => {
    expect(() => loadCatalogFile(join(config, 'providers.example.yaml'), {})).toThrow(/OPENAI_API_KEY.*'openai'/);
  });

  it('the simulator catalog follows SIM_URL and serves sim-shared from both providers', () => {
    const catalog = loadCatalogFile(join(config, 'providers.simulator.yaml'), { SIM_URL: 'http://127.0.0.1:5555' });
    expect(catalog.providers.map((p) => [p.id, p.kind, p.baseUrl])).toEqual([
      ['sim-openai', 'openai', 'http://127.0.0.1:5555/v1'],
      ['sim-anthropic', 'anthropic', 'http://127.0.0.1:5555'],
    ]);
    const served = catalog.providers.map((p) => p.models.map((m) => m.name));
    expect(served).toEqual([
      ['sim-gpt', 'sim-shared'],
      ['sim-claude', 'sim-shared'],
    ]);
  });
});

describe('parseCatalog: provider families', () => {
  const provider = (kind: string, extra: string, capabilities = '[chat, streaming]'): string => `
providers:
  - id: p
    kind: ${kind}
    baseUrl: http://127.0.0.1:8080
${extra}    models:
      - name: m
        promptPer1k: 0
        completionPer1k: 0
        contextWindow: 4096
        capabilities: ${capabilities}
`;

  it('accepts the native kinds and keeps a plugin module and a health path', () => {
    for (const kind of ['gemini', 'ollama', 'tgi']) {
      expect(parseCatalog(provider(kind, ''), {}).providers[0].kind).toBe(kind);
    }
    const plugin = parseCatalog(provider('plugin', '    plugin: ./examples/plugins/echo-provider.js\n'), {});
    expect(plugin.providers[0].plugin).toBe('./examples/plugins/echo-provider.js');
    const local = parseCatalog(provider('openai', '    healthPath: /health\n'), {});
    expect(local.providers[0].healthPath).toBe('/health');
    expect(parseCatalog(provider('openai', '    healthIntervalS: 30\n'), {}).providers[0].healthIntervalS).toBe(30);
    expect(parseCatalog(provider('openai', ''), {}).providers[0].healthIntervalS).toBeUndefined();
    expect(problemsOf(provider('openai', '    healthIntervalS: 0\n'))).toEqual([
      'providers[0].healthIntervalS must be an integer between 1 and 86400',
    ]);
  });

  it('keeps a maxEmbeddingInputs between 1 and 2048, exported as set and absent unless set', () => {
    const tei = parseCatalog(provider('openai', '    maxEmbeddingInputs: 32\n'), {});
    expect(tei.providers[0].maxEmbeddingInputs).toBe(32);
    expect(catalogToYaml(tei)).toContain('maxEmbeddingInputs: 32\n');
    expect(parseCatalog(provider('openai', ''), {}).providers[0]).not.toHaveProperty('maxEmbeddingInputs');
    for (const bad of ['0', '2049', '1.5', 'many']) {
      expect(problemsOf(provider('openai', `    maxEmbeddingInputs: ${bad}\n`))).toEqual([
        'providers[0].maxEmbeddingInputs must be an integer between 1 and 2048',
      ]);
    }
  });

  it('keeps a completion probe opt-in, and leaves the default health probe implicit', () => {
    expect(parseCatalog(provider('openai', '    probe: completion\n'), {}).providers[0].probe).toBe('completion');
    expect(parseCatalog(provider('openai', '    probe: health\n'), {}).providers[0]).not.toHaveProperty('probe');
    expect(problemsOf(provider('openai', '    probe: chat\n'))).toEqual([
      'providers[0].probe must be one of: health, completion',
    ]);
  });

  it('requires a module for kind plugin, and refuses one elsewhere', () => {
    expect(problemsOf(provider('plugin', ''))).toEqual([
      "providers[0].plugin is required when kind is 'plugin' (the module implementing the adapter, provider 'p')",
    ]);
    expect(problemsOf(provider('openai', '    plugin: x\n'))).toEqual([
      "providers[0].plugin is only allowed with kind 'plugin'",
    ]);
    expect(problemsOf(provider('openai', '    healthPath: health\n'))).toEqual([
      "providers[0].healthPath must be a path starting with '/' (e.g. /health)",
    ]);
  });

  it('refuses capabilities the wire format cannot honour', () => {
    expect(problemsOf(provider('tgi', '', '[chat, tools, vision]'))).toEqual([
      "providers[0].models[0].capabilities has 'tools', which the tgi API does not support (it supports: chat, streaming, json)",
      "providers[0].models[0].capabilities has 'vision', which the tgi API does not support (it supports: chat, streaming, json)",
    ]);
    expect(problemsOf(provider('anthropic', '', '[chat, json]'))).toEqual([
      "providers[0].models[0].capabilities has 'json', which the anthropic API does not support (it supports: chat, streaming, tools, vision)",
    ]);
    expect(parseCatalog(provider('gemini', '', '[chat, streaming, tools, vision, json]'), {}).providers).toHaveLength(
      1,
    );
  });

  it("takes JSON mode for Claude reached through an OpenAI-compatible gateway (LiteLLM translates it), 'auto' too", () => {
    const gateway = 'gateways:\n  - id: litellm\n    baseUrl: http://127.0.0.1:4000/v1\n';
    for (const routing of ['gateway', 'auto']) {
      const yaml = provider('anthropic', `    routing: ${routing}\n    gateway: litellm\n`, '[chat, json]') + gateway;
      expect(parseCatalog(yaml, {}).providers[0].models[0].capabilities).toEqual(['chat', 'json']);
    }
  });
});

describe('loadCatalogFile', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'catalog-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads and parses a file', () => {
    const path = join(dir, 'providers.yaml');
    writeFileSync(path, MINIMAL);
    expect(loadCatalogFile(path, { OPENAI_API_KEY: 'k' }).providers[0].id).toBe('openai');
  });

  it('names the file in errors', () => {
    const path = join(dir, 'bad.yaml');
    writeFileSync(path, 'providers: {}');
    expect(() => loadCatalogFile(path, {})).toThrow(
      `Invalid provider catalog file ${path}:\n  - providers must be a list`,
    );
    expect(() => loadCatalogFile(join(dir, 'missing.yaml'), {})).toThrow(
      /missing\.yaml:\n {2}- cannot be read \(ENOENT\)/,
    );
  });

  it('refuses an entry at a link-local address, naming it, unless PROVIDER_ALLOW_LINK_LOCAL (allowLinkLocal)', () => {
    const path = join(dir, 'link-local.yaml');
    writeFileSync(path, MINIMAL.replace('https://api.openai.com/v1/', 'http://169.254.169.254/v1'));
    expect(() => loadCatalogFile(path, { OPENAI_API_KEY: 'k' })).toThrow(
      `Invalid provider catalog file ${path}:\n  - providers[0].baseUrl is at a link-local or cloud metadata address`,
    );
    const allowed = loadCatalogFile(path, { OPENAI_API_KEY: 'k' }, { allowLinkLocal: true });
    expect(allowed.providers[0].baseUrl).toBe('http://169.254.169.254/v1');
  });
});

describe('catalog export', () => {
  const FILE = `
providers:
  - id: zeta
    kind: openai
    baseUrl: http://z/v1
    apiKey: literal-secret
    models:
      - { name: b, promptPer1k: 0.00015, completionPer1k: 0.0000006, contextWindow: 10, quality: 0.5, cache: { ttlS: 60, enabled: true } }
      - { name: a, promptPer1k: 1, completionPer1k: 2, contextWindow: 10, enabled: false }
  - id: alpha
    kind: anthropic
    baseUrl: http://a
    apiKey: \${ANTHROPIC_KEY}
    routing: gateway
    gateway: gw
gateways:
  - { id: gw, baseUrl: 'http://gw', apiKey: '\${GW_KEY:-}' }
`;
  const env = { ANTHROPIC_KEY: 'sk-ant', GW_KEY: 'sk-gw' };

  it('remembers a key given as one ${VAR} reference without a literal default, never a literal', () => {
    const c = parseCatalog(FILE, env);
    expect(c.providers.map((p) => [p.id, p.apiKey, p.apiKeyRef])).toEqual([
      ['zeta', 'literal-secret', undefined],
      ['alpha', 'sk-ant', '${ANTHROPIC_KEY}'],
    ]);
    expect(c.gateways[0].apiKeyRef).toBe('${GW_KEY:-}');
    expect(secretReferenceOf('${X:-literal}')).toBeUndefined();
    expect(secretReferenceOf('Bearer ${X}')).toBeUndefined();
  });

  it('writes sorted lists, every default, no literal key; reading it back and writing again is identical', () => {
    const yaml = catalogToYaml(parseCatalog(FILE, env));
    expect(yaml).not.toContain('literal-secret');
    expect(yaml).not.toContain('sk-ant');
    expect(yaml.indexOf('id: alpha')).toBeLessThan(yaml.indexOf('id: zeta'));
    expect(yaml.indexOf('name: a')).toBeLessThan(yaml.indexOf('name: b'));
    expect(yaml).toContain('maxConnections: 128');
    expect(yaml).toMatch(/cache:\n {10}enabled: true\n {10}ttlS: 60\n/);
    expect(catalogToYaml(parseCatalog(yaml, env))).toBe(yaml);
    const json = catalogToJson(parseCatalog(FILE, env));
    expect(catalogToJson(readCatalogDocument(JSON.parse(json), env))).toBe(json);
  });
});
