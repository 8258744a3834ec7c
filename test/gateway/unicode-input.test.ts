import { ApiKeyStore } from '@aigw/entities';
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
});
