import { CatalogFileError, readCatalogDocument } from '@aigw/core';
import {
  ADMIN_DOCUMENT,
  adminDocument,
  invalidConfiguration,
  problemOf,
  problemText,
  validateDocs,
} from './catalog-docs';

/** The 400's message for a configuration document, as the import and the provider routes word it. */
function messageOf(doc: object): string {
  try {
    readCatalogDocument(doc, {}, 'configuration', ADMIN_DOCUMENT);
  } catch (err) {
    if (err instanceof CatalogFileError) {
      return invalidConfiguration(err, /^$/).message;
    }
    throw err;
  }
  return '';
}

const model = { name: 'm', promptPer1k: 0, completionPer1k: 0, contextWindow: 1000 };

describe('catalog documents: problems as an admin request reads them', () => {
  it('names an unknown key once, as the path: "provider has unknown key \'provider\'" said it twice', () => {
    const top = problemOf("(top level) has unknown key 'provider' (allowed: providers, gateways)", /^$/);
    expect(top).toEqual({ path: 'provider', message: 'is an unknown key (allowed: providers, gateways)' });
    expect(problemText(top)).toBe('provider is an unknown key (allowed: providers, gateways)');

    const message = messageOf({
      providers: [{ id: 'p', kind: 'openai', baseUrl: 'http://127.0.0.1:9', models: [{ ...model, id: 'x' }] }],
      provider: [],
    });
    expect(message).toContain('provider is an unknown key (allowed: providers, gateways)');
    expect(message).toContain('providers[0].models[0].id is an unknown key (allowed: name,');
    expect(message).not.toMatch(/has unknown key/);
  });

  it('says "plugin" once for a plugin module that cannot be found', () => {
    const doc = {
      gateways: [],
      providers: [
        { id: 'p', kind: 'plugin', plugin: './no/such/plugin.js', baseUrl: 'http://127.0.0.1:9', models: [model] },
      ],
    };
    expect(() => validateDocs(doc, {}, /^$/, () => true)).toThrow(
      /^Invalid configuration: providers\[0\]\.plugin module '\.\/no\/such\/plugin\.js' cannot be found \(paths are relative to /,
    );
  });
});

describe('adminDocument: a link-local URL in an admin document', () => {
  const url = 'http://169.254.10.20:8000/v1';
  const stored = { providers: [{ id: 'p', baseUrl: url }], gateways: [] };
  const read = (allow: boolean, id: string, baseUrl: string) => () =>
    validateDocs(
      { gateways: [], providers: [{ id, kind: 'openai', baseUrl, models: [model] }] },
      {},
      /^providers\[0\]\.?/,
      () => true,
      adminDocument({ PROVIDER_ALLOW_LINK_LOCAL: allow, ADMIN_KEY_VARIABLES: ['*_API_KEY'] }, stored),
    );

  it('is accepted as stored for its entry; a new one, or another entry at it, is refused naming baseUrl', () => {
    expect(read(false, 'p', url)().providers[0].baseUrl).toBe(url);
    expect(read(false, 'p', 'http://169.254.10.99:8000/v1')).toThrow(
      /^Invalid configuration: baseUrl is at a link-local/,
    );
    expect(read(false, 'q', url)).toThrow(/^Invalid configuration: baseUrl is at a link-local/);
  });

  it('is accepted anywhere with PROVIDER_ALLOW_LINK_LOCAL', () => {
    expect(read(true, 'q', 'http://169.254.10.99:8000/v1')().providers[0].baseUrl).toBe('http://169.254.10.99:8000/v1');
  });
});

describe('adminDocument: an apiKey naming an environment variable', () => {
  const env = {
    AWS_SECRET_ACCESS_KEY: 'aws-secret',
    OPENAI_API_KEY: 'sk-openai',
    MY_LLM_KEY: 'mine',
    REDIS_PASSWORD: 'r',
  };
  const stored = {
    providers: [
      { id: 'old', baseUrl: 'http://127.0.0.1:9', apiKeyRef: '${AWS_SECRET_ACCESS_KEY}' },
      { id: 'redis', baseUrl: 'http://127.0.0.1:9', apiKeyRef: '${REDIS_PASSWORD}' },
    ],
    gateways: [],
  };
  const read =
    (id: string, apiKey: string, keyVariables: string[] = ['*_API_KEY', 'HF_TOKEN']) =>
    () =>
      validateDocs(
        { gateways: [], providers: [{ id, kind: 'openai', baseUrl: 'http://127.0.0.1:9', apiKey, models: [model] }] },
        env,
        /^providers\[0\]\.?/,
        () => true,
        adminDocument({ PROVIDER_ALLOW_LINK_LOCAL: false, ADMIN_KEY_VARIABLES: keyVariables }, stored),
      ).providers[0];

  it('is refused outside ADMIN_KEY_VARIABLES: a 400 naming apiKey and the variable, never its value', () => {
    for (const apiKey of [
      '${AWS_SECRET_ACCESS_KEY}',
      'Bearer ${AWS_SECRET_ACCESS_KEY}',
      '${AWS_SECRET_ACCESS_KEY:-x}',
    ]) {
      let error: unknown;
      try {
        read('p', apiKey)();
      } catch (err) {
        error = err;
      }
      expect(error).toMatchObject({ param: 'apiKey' });
      const message = (error as Error).message;
      expect(message).toMatch(
        /^Invalid configuration: apiKey must not reference environment variable AWS_SECRET_ACCESS_KEY: .*ADMIN_KEY_VARIABLES lists \(\*_API_KEY,HF_TOKEN\)/,
      );
      expect(message).not.toContain('aws-secret');
    }
  });

  it('is read when ADMIN_KEY_VARIABLES lists it (a name, or a pattern with *)', () => {
    expect(read('p', '${OPENAI_API_KEY}')()).toMatchObject({ apiKey: 'sk-openai', apiKeyRef: '${OPENAI_API_KEY}' });
    expect(read('p', '${MY_LLM_KEY}', ['MY_LLM_KEY'])().apiKey).toBe('mine');
    expect(read('p', '${MY_LLM_KEY}', ['MY_*'])().apiKey).toBe('mine');
    expect(read('p', '${OPENAI_API_KEY}', [])).toThrow(/OPENAI_API_KEY: .*ADMIN_KEY_VARIABLES lists \(none\)/);
  });

  it("is accepted as stored for its entry (an upgrade, a narrowed list), not for another entry's", () => {
    expect(read('old', '${AWS_SECRET_ACCESS_KEY}')()).toMatchObject({ apiKeyRef: '${AWS_SECRET_ACCESS_KEY}' });
    expect(read('q', '${AWS_SECRET_ACCESS_KEY}')).toThrow(/apiKey must not reference environment variable/);
    // Changed, even to a default: checked again.
    expect(read('old', '${AWS_SECRET_ACCESS_KEY:-x}')).toThrow(/apiKey must not reference environment variable/);
  });

  it("never reads the gateway's own secrets, even listed or stored", () => {
    expect(read('p', '${REDIS_PASSWORD}', ['*'])).toThrow(
      /apiKey must not reference the gateway's own secret REDIS_PASSWORD/,
    );
    expect(read('redis', '${REDIS_PASSWORD}')).toThrow(/apiKey must not reference the gateway's own secret/);
  });
});
