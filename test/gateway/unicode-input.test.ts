import { ApiKeyStore } from '@aigw/entities';
import { CatalogService } from '@aigw/platform';
import { chat, GatewayHarness, type ErrorEnvelope } from './support';

/**
 * Text that JavaScript strings hold but PostgreSQL and the providers do not: a lone UTF-16 surrogate (only a JSON
 * `\uD800` escape can carry one in, the body being valid UTF-8) and U+0000. Either is a 400 in the envelope, before
 * anything is queued, stored or half-done; never a 500 from the database, nor a U+FFFD written in its place.
 */
describe('api-gateway: lone surrogates and NUL in input', () => {
  const h = new GatewayHarness();

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);

  function expectEnvelope(body: ErrorEnvelope, code: string, param: string | null = null): void {
    expect(Object.keys(body)).toEqual(['error']);
    expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
    expect(body.error.code).toBe(code);
    expect(body.error.param).toBe(param);
  }

  /** Sends `text` as it is: JSON.stringify would escape a lone surrogate itself, which is what is being tested. */
  function send(method: string, route: string, text: string): Promise<Response> {
    return fetch(`${h.url}${route}`, { method, headers: h.headers(), body: text });
  }

  describe('a lone surrogate escape in a JSON body', () => {
    it('is a 400 invalid_json on a chat completion, and no job is queued', async () => {
      const before = h.jobsSeen.length;
      for (const content of ['a\\ud800b', 'a\\uDC00b', 'end\\uD83D', '\\ude00\\ud83d']) {
        const res = await send(
          'POST',
          '/v1/chat/completions',
          `{"model":"sim-gpt","messages":[{"role":"user","content":"${content}"}]}`,
        );
        expect([content, res.status]).toEqual([content, 400]);
        const body = (await res.json()) as ErrorEnvelope;
        expectEnvelope(body, 'invalid_json');
        expect(body.error.message).toMatch(/surrogate/);
      }
      // In an object key as well.
      const key = await send(
        'POST',
        '/v1/chat/completions',
        `{"model":"sim-gpt","messages":[{"role":"user","content":"x"}],"metadata":{"\\ud800":"v"}}`,
      );
      expect(key.status).toBe(400);
      expectEnvelope((await key.json()) as ErrorEnvelope, 'invalid_json');
      expect(h.jobsSeen.length).toBe(before);
    });

    it('leaves a surrogate pair, written whole or escaped, and an escaped backslash before "ud800" alone', async () => {
      for (const [sent, read] of [
        ['smile \\ud83d\\ude00', 'smile \u{1F600}'],
        ['smile \u{1F600}', 'smile \u{1F600}'],
        ['path \\\\ud800', 'path \\ud800'],
      ]) {
        const res = await send(
          'POST',
          '/v1/chat/completions',
          JSON.stringify(chat('')).replace('"content":""', `"content":"${sent}"`),
        );
        expect([sent, res.status]).toEqual([sent, 200]);
        const answer = (await res.json()) as { choices: { message: { content: string } }[] };
        expect(answer.choices[0].message.content).toBe(read);
      }
    });

    it('a body nested too deep for the reviver is still a 400 in the envelope', async () => {
      const depth = 100_000;
      const res = await send(
        'POST',
        '/v1/chat/completions',
        `{"model":"sim-gpt","messages":[{"role":"user","content":"\\ud83d\\ude00"}],"x":${'['.repeat(depth)}${']'.repeat(depth)}}`,
      );
      expect(res.status).toBe(400);
      const body = (await res.json()) as ErrorEnvelope;
      expectEnvelope(body, 'invalid_json');
      expect(body.error.message).toMatch(/nests too deeply/);
    });

    it('is a 400 on an admin write, not a 500 from the audit log', async () => {
      // Before: the user was inserted, the audit entry's JSONB refused '\ud800' and the request failed with a 500.
      const res = await send('POST', '/api/v1/ai/admin/users', '{"name":"lone \\ud800 user"}');
      expect(res.status).toBe(400);
      expectEnvelope((await res.json()) as ErrorEnvelope, 'invalid_json');
    });

    it("is a 400 on a key's name, not a key stored under a name with U+FFFD in it", async () => {
      const users = await (await h.get('/api/v1/ai/admin/users')).json();
      const userId = (users as { data: { id: string }[] }).data[0].id;
      const res = await send('POST', '/api/v1/ai/admin/keys', `{"userId":"${userId}","name":"lone \\ud800 key"}`);
      expect(res.status).toBe(400);
      expectEnvelope((await res.json()) as ErrorEnvelope, 'invalid_json');
      const names = (await h.app.get(ApiKeyStore).list()).map((k) => k.name);
      expect(names.filter((n) => n?.startsWith('lone '))).toEqual([]);
    });
  });

  describe('a __proto__ key', () => {
    it('is dropped however its letters are written: escaped, it reached the DTO as an own property', async () => {
      // The native API refuses an unknown field, so a key that survives parsing shows as a 400 naming it.
      for (const key of ['__proto__', '\\u005f_proto__', '__pr\\u006fto__', '\\u005F\\u005Fproto\\u005F\\u005F']) {
        const res = await send('POST', '/api/v1/ai/generate', `{"prompt":"proto","${key}":{"polluted":1}}`);
        expect([key, res.status]).toEqual([key, 200]);
      }
    });
  });

  describe('U+0000 in a query parameter', () => {
    it('DELETE /admin/cache?model= with a NUL is a 400 naming model, not a 500 from the audit log', async () => {
      for (const model of ['%00', 'sim-gpt%00']) {
        const res = await fetch(`${h.url}/api/v1/ai/admin/cache?model=${model}`, {
          method: 'DELETE',
          headers: h.headers(),
        });
        expect([model, res.status]).toEqual([model, 400]);
        expectEnvelope((await res.json()) as ErrorEnvelope, 'invalid_request', 'model');
      }
      // The selector without it still works.
      const ok = await fetch(`${h.url}/api/v1/ai/admin/cache?model=sim-gpt`, {
        method: 'DELETE',
        headers: h.headers(),
      });
      expect(ok.status).toBe(200);
    });
  });
  describe('a lone surrogate escape in a YAML config import', () => {
    const IMPORT = '/api/v1/ai/admin/config/import';

    function importYaml(text: string, query = ''): Promise<Response> {
      return fetch(`${h.url}${IMPORT}${query}`, {
        method: 'POST',
        headers: h.headers(h.adminKey, { 'content-type': 'application/yaml' }),
        body: text,
      });
    }

    /**
     * An import holding every field of the format, each double-quoted (where YAML reads `\u` escapes, as JSON does;
     * a YAML body never meets the JSON parser's check): `value` gives each one's text from its path and usual text.
     */
    function importDoc(value: (path: string, plain: string) => string): string {
      const q = (path: string, plain: string): string => `"${value(path, plain)}"`;
      const p = 'providers[0]';
      const m = `${p}.models[0]`;
      return [
        'gateways:',
        `  - id: ${q('gateways[0].id', 'gw')}`,
        `    baseUrl: ${q('gateways[0].baseUrl', `${h.sim.url}/v1`)}`,
        `    apiKey: ${q('gateways[0].apiKey', 'sk-gw-literal')}`,
        `    timeoutMs: ${q('gateways[0].timeoutMs', '10000')}`,
        'providers:',
        `  - id: ${q(`${p}.id`, 'sim')}`,
        `    displayName: ${q(`${p}.displayName`, 'Sim')}`,
        `    kind: ${q(`${p}.kind`, 'openai')}`,
        `    baseUrl: ${q(`${p}.baseUrl`, `${h.sim.url}/v1`)}`,
        `    apiKey: ${q(`${p}.apiKey`, 'sk-sim-secret-gateway-test')}`,
        `    enabled: ${q(`${p}.enabled`, 'true')}`,
        `    timeoutMs: ${q(`${p}.timeoutMs`, '10000')}`,
        `    routing: ${q(`${p}.routing`, 'direct')}`,
        `    gateway: ${q(`${p}.gateway`, 'gw')}`,
        `    healthPath: ${q(`${p}.healthPath`, '/health')}`,
        `    probe: ${q(`${p}.probe`, 'health')}`,
        '    models:',
        `      - name: ${q(`${m}.name`, 'sim-gpt')}`,
        `        upstreamName: ${q(`${m}.upstreamName`, 'sim-gpt')}`,
        `        displayName: ${q(`${m}.displayName`, 'Sim GPT')}`,
        `        description: ${q(`${m}.description`, 'The simulator')}`,
        `        promptPer1k: ${q(`${m}.promptPer1k`, '0.001')}`,
        `        completionPer1k: ${q(`${m}.completionPer1k`, '0.002')}`,
        `        contextWindow: ${q(`${m}.contextWindow`, '8192')}`,
        `        capabilities: [${q(`${m}.capabilities[0]`, 'chat')}]`,
        '',
      ].join('\n');
    }

    const STRING_FIELDS = [
      'gateways[0].id',
      'gateways[0].baseUrl',
      'gateways[0].apiKey',
      'providers[0].id',
      'providers[0].displayName',
      'providers[0].kind',
      'providers[0].baseUrl',
      'providers[0].apiKey',
      'providers[0].routing',
      'providers[0].gateway',
      'providers[0].healthPath',
      'providers[0].probe',
      'providers[0].models[0].name',
      'providers[0].models[0].upstreamName',
      'providers[0].models[0].displayName',
      'providers[0].models[0].description',
    ];
    /** Fields read from a string as a number, a boolean or one of a list: refused all the same, in their own words. */
    const OTHER_FIELDS = [
      'gateways[0].timeoutMs',
      'providers[0].enabled',
      'providers[0].timeoutMs',
      'providers[0].models[0].promptPer1k',
      'providers[0].models[0].completionPer1k',
      'providers[0].models[0].contextWindow',
      'providers[0].models[0].capabilities[0]',
    ];
    /**
     * A JSON `\uD800`-`\uDFFF` escape in an answer's text: what JSON.stringify writes for a lone surrogate (not the
     * message's own words about one, whose backslash is escaped).
     */
    const SURROGATE_ESCAPE = /(?<!\\)\\u[dD][89a-fA-F]/;

    const displayNameOfSim = (): string | undefined =>
      h.app.get(CatalogService).current.providers.find((p) => p.id === 'sim')?.displayName;

    it('is a 400 naming the field, not a displayName stored with U+FFFD in it (200 before)', async () => {
      const providers = h.app.get(CatalogService).current.providers.map((p) => p.id);
      const res = await importYaml(
        importDoc((path, plain) => (path === 'providers[0].displayName' ? 'a\\ud800' : plain)),
      );
      const text = await res.text();
      expect([res.status, text]).toEqual([400, expect.any(String)]);
      const body = JSON.parse(text) as ErrorEnvelope;
      expectEnvelope(body, 'invalid_request', 'providers[0].displayName');
      expect(body.error.message).toMatch(/lone UTF-16 surrogate/);
      expect(text).not.toMatch(SURROGATE_ESCAPE);
      // Nothing applied: the harness's catalog as it was.
      expect(h.app.get(CatalogService).current.providers.map((p) => p.id)).toEqual(providers);
      expect(displayNameOfSim()).toBeUndefined();
    });

    it('is a 400 naming the field for every field of the format, high or low, alone or at either end', async () => {
      for (const path of [...STRING_FIELDS, ...OTHER_FIELDS]) {
        for (const lone of ['\\ud800', '\\uDC00', 'x\\uDBFF', '\\ude00\\ud83d']) {
          const res = await importYaml(
            importDoc((p, plain) => (p === path ? `${plain}${lone}` : plain)),
            '?dryRun=true',
          );
          const text = await res.text();
          expect([path, lone, res.status]).toEqual([path, lone, 400]);
          const body = JSON.parse(text) as ErrorEnvelope;
          expect([path, body.error.param]).toEqual([path, path]);
          if (STRING_FIELDS.includes(path)) {
            expect([path, body.error.message]).toEqual([path, expect.stringMatching(/lone UTF-16 surrogate/)]);
          }
          expect(text).not.toMatch(SURROGATE_ESCAPE);
        }
      }
    });

    it('an unknown key holding one is refused as unknown, named with U+FFFD (the answer stays well-formed JSON)', async () => {
      const doc = importDoc((_p, plain) => plain).replace(
        '    kind: "openai"',
        '    kind: "openai"\n    "note\\ud800": "x"',
      );
      const res = await importYaml(doc, '?dryRun=true');
      const text = await res.text();
      expect(res.status).toBe(400);
      expect(text).not.toMatch(SURROGATE_ESCAPE);
      expect((JSON.parse(text) as ErrorEnvelope).error.param).toBe('providers[0].note\uFFFD');
    });

    it('the same document without one imports (dry run); a surrogate pair, escaped or whole, is kept', async () => {
      const res = await importYaml(
        importDoc((path, plain) => (path === 'providers[0].displayName' ? 'smile \\ud83d\\ude00 \u{1F600}' : plain)),
        '?dryRun=true',
      );
      expect(res.status).toBe(200);
      const body = (await res.json()) as {
        changes: { providers: { changed: { id: string; fields: Record<string, { to: unknown }> }[] } };
      };
      const sim = body.changes.providers.changed.find((c) => c.id === 'sim');
      expect(sim?.fields.displayName?.to).toBe('smile \u{1F600} \u{1F600}');
      expect(displayNameOfSim()).toBeUndefined();
    });
  });
});
