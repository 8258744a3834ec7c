import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { chat, GatewayHarness, type ErrorEnvelope } from './support';

/** Auth, input validation, the error envelope, request ids, model lists and metrics of the api-gateway. */
describe('api-gateway HTTP surface', () => {
  const h = new GatewayHarness({ MAX_BODY_BYTES: String(64 * 1024) });

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);

  function expectEnvelope(body: ErrorEnvelope, code: string, param: string | null = null): void {
    expect(Object.keys(body)).toEqual(['error']);
    expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
    expect(body.error.code).toBe(code);
    expect(body.error.param).toBe(param);
    expect(typeof body.error.message).toBe('string');
  }

  describe('auth', () => {
    it('401 invalid_api_key without a key, with the envelope and a request id', async () => {
      const res = await h.post('/v1/chat/completions', chat('x'), { 'content-type': 'application/json' });
      expect(res.status).toBe(401);
      expect(res.headers.get('x-request-id')).toMatch(/^req_/);
      expectEnvelope((await res.json()) as ErrorEnvelope, 'invalid_api_key');
    });

    it('401 with an unknown key, never echoing it', async () => {
      const res = await h.post('/v1/chat/completions', chat('x'), h.headers('sk-aigw-unknown-key-0123456789'));
      expect(res.status).toBe(401);
      const text = await res.text();
      expect(text).not.toContain('unknown-key-0123456789');
      expectEnvelope(JSON.parse(text) as ErrorEnvelope, 'invalid_api_key');
    });

    it('accepts the bootstrap admin key as a bearer token or in x-api-key', async () => {
      expect((await h.get('/v1/models')).status).toBe(200);
      expect((await h.get('/v1/models', { 'x-api-key': h.adminKey })).status).toBe(200);
    });

    it('accepts a freshly created user key', async () => {
      const key = await h.userKey('alice');
      expect((await h.get('/api/v1/ai/models', h.headers(key))).status).toBe(200);
    });

    it('leaves health and metrics open', async () => {
      expect((await fetch(`${h.url}/health/live`)).status).toBe(200);
      expect((await fetch(`${h.url}/health/ready`)).status).toBe(200);
      expect((await fetch(`${h.url}/metrics`)).status).toBe(200);
    });
  });

  describe("requests Node's HTTP parser refuses", () => {
    function envelopeOf(response: string): ErrorEnvelope {
      return JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)) as ErrorEnvelope;
    }

    it('431 in the envelope for headers over the limit', async () => {
      const res = await h.get('/v1/models', h.headers(h.adminKey, { 'x-padding': 'p'.repeat(20_000) }));
      expect(res.status).toBe(431);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{32}$/);
      expectEnvelope((await res.json()) as ErrorEnvelope, 'invalid_request');
    });

    it('400 in the envelope for a request that is not HTTP', async () => {
      const response = await h.raw('GET /v1/models HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n');
      expect(response).toMatch(/^HTTP\/1\.1 400 /);
      expect(response).toMatch(/\r\nx-request-id: req_[0-9a-f]{32}\r\n/);
      expectEnvelope(envelopeOf(response), 'invalid_request');
    });

    function expecting(route: string, expectation: string): string {
      return (
        `POST ${route} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: ${expectation}\r\n` +
        'Content-Length: 2\r\nConnection: close\r\n\r\n{}'
      );
    }

    it('417 in the envelope, naming Expect, for an expectation other than 100-continue', async () => {
      const response = await h.raw(expecting('/v1/chat/completions', 'something-else'));
      expect(response).toMatch(/^HTTP\/1\.1 417 /);
      expect(response).toMatch(/\r\nx-request-id: req_[0-9a-f]{32}\r\n/);
      expectEnvelope(envelopeOf(response), 'invalid_request', 'Expect');
      // Anthropic's shape on its route.
      const anthropic = await h.raw(expecting('/v1/messages', 'something-else'));
      expect(anthropic).toMatch(/^HTTP\/1\.1 417 /);
      expect((envelopeOf(anthropic) as unknown as { type: string }).type).toBe('error');
    });
  });

  describe('x-request-id', () => {
    it('echoes a valid client id and replaces an invalid one', async () => {
      const mine = await h.get('/v1/models', h.headers(h.adminKey, { 'x-request-id': 'client-id_1.2' }));
      expect(mine.headers.get('x-request-id')).toBe('client-id_1.2');
      const bad = await h.get('/v1/models', h.headers(h.adminKey, { 'x-request-id': 'has spaces!' }));
      expect(bad.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{32}$/);
    });

    it('is on errors too, including unknown routes', async () => {
      const res = await h.get('/no/such/route', h.headers(h.adminKey, { 'x-request-id': 'abc' }));
      expect(res.status).toBe(404);
      expect(res.headers.get('x-request-id')).toBe('abc');
      expectEnvelope((await res.json()) as ErrorEnvelope, 'not_found');
    });

    it('a path that exists with other methods is a 405 naming them in Allow (204 to OPTIONS), not a 404', async () => {
      const cases: [string, string, string][] = [
        ['GET', '/v1/chat/completions', 'POST'],
        ['PUT', '/v1/embeddings?x=1', 'POST'],
        ['DELETE', '/api/v1/ai/jobs/job_1', 'GET, HEAD'],
        ['PATCH', '/api/v1/ai/preferences', 'DELETE, GET, HEAD, PUT'],
        ['POST', '/v1/models/sim/sim-gpt', 'GET, HEAD'],
      ];
      for (const [method, route, allow] of cases) {
        // Without a key too: the router answers before any guard, as for an unknown route.
        const res = await fetch(`${h.url}${route}`, { method, headers: { 'x-request-id': 'm1' } });
        expect([method, route, res.status]).toEqual([method, route, 405]);
        expect(res.headers.get('allow')).toBe(allow);
        expect(res.headers.get('x-request-id')).toBe('m1');
        const envelope = (await res.json()) as ErrorEnvelope;
        expectEnvelope(envelope, 'method_not_allowed');
        expect(envelope.error.message).toContain(allow);
      }
      const options = await fetch(`${h.url}/v1/models`, { method: 'OPTIONS' });
      expect(options.status).toBe(204);
      expect(options.headers.get('allow')).toBe('GET, HEAD');
      expect(await options.text()).toBe('');
      // A path nothing answers stays a 404.
      for (const method of ['GET', 'OPTIONS']) {
        const res = await fetch(`${h.url}/v1/chat/completion`, { method });
        expect(res.status).toBe(404);
        expect(res.headers.get('allow')).toBeNull();
        expectEnvelope((await res.json()) as ErrorEnvelope, 'not_found');
      }
    });

    it('405 and 404 read a path as the router does: percent-decoded, the query left off', async () => {
      // The router decodes `%63hat` to `chat` (find-my-way's safeDecodeURI): POST there is routed, so GET is a 405 as
      // on the plain path. Before, the methods were looked up on the raw path: GET answered 404 "Cannot GET".
      const routed = await h.post('/v1/%63hat/completions', chat('encoded'));
      expect(routed.status).toBe(200);
      const cases: [string, string, string][] = [
        ['GET', '/v1/%63hat/completions', 'POST'],
        ['GET', '/v1/ch%61t/%63ompletions?x=%2F', 'POST'],
        ['DELETE', '/api/v1/ai/jobs/job%5F1', 'GET, HEAD'],
        ['PATCH', '/api/v1/ai/%70references', 'DELETE, GET, HEAD, PUT'],
        // A parameter may hold an encoded `/` (the router leaves %2F as is, within its segment).
        ['POST', '/v1/models/sim/sim%2Fgpt', 'GET, HEAD'],
      ];
      for (const [method, route, allow] of cases) {
        const res = await fetch(`${h.url}${route}`, { method, headers: { 'x-request-id': 'e1' } });
        expect([method, route, res.status, res.headers.get('allow')]).toEqual([method, route, 405, allow]);
        expectEnvelope((await res.json()) as ErrorEnvelope, 'method_not_allowed');
      }
      const options = await fetch(`${h.url}/v1/%6Dodels`, { method: 'OPTIONS' });
      expect([options.status, options.headers.get('allow')]).toEqual([204, 'GET, HEAD']);
      // What the router does not route stays a 404 for every method: an encoded `/` is not a separator, case counts,
      // a trailing slash is another path, and a parameter over the router's limit reaches no route.
      for (const route of [
        '/v1/chat%2Fcompletions',
        '/v1/Chat/completions',
        '/v1/chat/completions/',
        `/api/v1/ai/jobs/${'x'.repeat(1100)}`,
      ]) {
        for (const method of ['OPTIONS', 'PUT']) {
          const res = await fetch(`${h.url}${route}`, { method });
          expect([method, route.slice(0, 40), res.status, res.headers.get('allow')]).toEqual([
            method,
            route.slice(0, 40),
            404,
            null,
          ]);
        }
      }
      // A bad percent-encoding is the router's 400, never a 405 naming the methods of a path it could not read.
      for (const method of ['OPTIONS', 'PUT', 'GET']) {
        const bad = await fetch(`${h.url}/v1/chat/%E0%A4%A`, { method });
        expect([method, bad.status, bad.headers.get('allow')]).toEqual([method, 400, null]);
      }
    });

    it('an empty path parameter reaches no route: a 404 for every method, never a 405 allowing the method sent', async () => {
      // No route takes an empty parameter (`/api/v1/ai/jobs/` is no job): the router matches `:id` = '' but the app
      // passes it to not-found. Before, the 405 told `GET` that the path takes `GET, HEAD`.
      const cases: [string, string][] = [
        ['GET', '/api/v1/ai/jobs/'],
        ['DELETE', '/api/v1/ai/preferences/'],
        ['DELETE', '/api/v1/ai/admin/keys/'],
        ['PATCH', '/api/v1/ai/admin/providers/'],
        ['POST', '/api/v1/ai/jobs//cancel'],
        ['OPTIONS', '/api/v1/ai/jobs/'],
      ];
      for (const [method, route] of cases) {
        const res = await fetch(`${h.url}${route}`, { method, headers: h.headers() });
        expect([method, route, res.status, res.headers.get('allow')]).toEqual([method, route, 404, null]);
        if (method !== 'OPTIONS') {
          expectEnvelope((await res.json()) as ErrorEnvelope, 'not_found');
        }
      }
      // The wildcard of `GET /v1/models/*` may be empty: that route is reached, and answers for the empty id.
      const models = await h.get('/v1/models/');
      expect(models.status).toBe(404);
      expectEnvelope((await models.json()) as ErrorEnvelope, 'model_not_found', 'model');
    });

    it('a 405 quotes the route as declared, a 404 the path alone: never the query, a parameter or an authority', async () => {
      const cases: [string, string, string][] = [
        ['GET', '/v1/ch%61t/%63ompletions?api_key=sk-secret-q1', 'Method GET is not allowed on /v1/chat/completions'],
        ['GET', '/v1/chat/completions#sk-secret-f1', 'Method GET is not allowed on /v1/chat/completions'],
        ['DELETE', '/api/v1/ai/jobs/sk-secret-p1?x=1', 'Method DELETE is not allowed on /api/v1/ai/jobs/:id'],
        [
          'PATCH',
          '/api/v1/ai/preferences/sk-secret-p2',
          'Method PATCH is not allowed on /api/v1/ai/preferences/:context',
        ],
        ['POST', '/v1/models/sim/sk-secret-p3', 'Method POST is not allowed on /v1/models/*'],
        ['PUT', '/api/v1/ai/jobs/job%5F1/cancel', 'Method PUT is not allowed on /api/v1/ai/jobs/:id/cancel'],
      ];
      for (const [method, route, message] of cases) {
        const res = await fetch(`${h.url}${route}`, { method });
        const envelope = (await res.json()) as ErrorEnvelope;
        expect([method, route, res.status, envelope.error.message]).toEqual([
          method,
          route,
          405,
          `${message}; it takes ${res.headers.get('allow')}.`,
        ]);
      }
      // An absolute-form target (as sent to a proxy) is routed by its path: its user info is no part of the answer.
      const url = new URL(h.url);
      const absolute = await h.raw(
        `PUT http://user:sk-secret-a1@${url.host}/v1/embeddings?key=sk-secret-a2 HTTP/1.1\r\nHost: ${url.host}\r\n` +
          'Content-Length: 0\r\nConnection: close\r\n\r\n',
      );
      expect(absolute).toMatch(/^HTTP\/1\.1 405 /);
      expect(absolute).toContain('Method PUT is not allowed on /v1/embeddings; it takes POST.');
      expect(absolute).not.toContain('sk-secret');
      // A 404 has no route to quote: its path, without the query (where clients put keys: `?api_key=`, `?key=`).
      for (const method of ['GET', 'POST']) {
        const res = await fetch(`${h.url}/v1/chat/completion?api_key=sk-secret-n1`, {
          method,
          headers: { 'content-type': 'application/json' },
          body: method === 'POST' ? '{}' : undefined,
        });
        const envelope = (await res.json()) as ErrorEnvelope;
        expect([method, res.status, envelope.error.message]).toEqual([
          method,
          404,
          `Cannot ${method} /v1/chat/completion`,
        ]);
      }
      const expected = await h.raw(
        `POST /v1/chat/completion?api_key=sk-secret-n2 HTTP/1.1\r\nHost: ${url.host}\r\nExpect: 100-continue\r\n` +
          'Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n',
      );
      expect(expected).toMatch(/^HTTP\/1\.1 404 /);
      expect(expected).toContain('Cannot POST /v1/chat/completion"');
      const absent = await h.raw(
        `GET http://user:sk-secret-a3@${url.host}/nowhere HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`,
      );
      expect(absent).toMatch(/^HTTP\/1\.1 404 /);
      expect(absent).toContain('Cannot GET /nowhere"');
      // A file missing under a static folder (the API docs' assets, open to anyone) likewise.
      const asset = await fetch(`${h.url}/docs/assets/nothing.js?api_key=sk-secret-s1#sk-secret-s2`);
      expect([asset.status, ((await asset.json()) as ErrorEnvelope).error.message]).toEqual([
        404,
        'No file at /docs/assets/nothing.js.',
      ]);
      const absoluteAsset = await h.raw(
        `GET http://user:sk-secret-s3@${url.host}/docs/assets/nothing.js?key=sk-secret-s4 HTTP/1.1\r\n` +
          `Host: ${url.host}\r\nConnection: close\r\n\r\n`,
      );
      expect(absoluteAsset).toMatch(/^HTTP\/1\.1 404 /);
      expect(absoluteAsset).toContain('No file at /docs/assets/nothing.js."');
      expect(absoluteAsset).not.toContain('sk-secret');
    });

    it("is on the router's own refusals, in the envelope: a path parameter too long, a bad percent-encoding", async () => {
      const long = await h.get(`/api/v1/ai/jobs/${'x'.repeat(1200)}`, h.headers(h.adminKey, { 'x-request-id': 'l1' }));
      expect(long.status).toBe(404);
      expect(long.headers.get('x-request-id')).toBe('l1');
      expectEnvelope((await long.json()) as ErrorEnvelope, 'not_found');
      // Anonymous too: the router answers before any guard.
      const minted = await h.get(`/api/v1/ai/jobs/${'y'.repeat(1100)}`, {});
      expect(minted.status).toBe(404);
      expect(minted.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{32}$/);
      expectEnvelope((await minted.json()) as ErrorEnvelope, 'not_found');
      // Up to the limit a parameter reaches its route, which answers for itself.
      const atLimit = await h.get(`/api/v1/ai/jobs/${'x'.repeat(1024)}`);
      expect(atLimit.status).toBe(404);
      expectEnvelope((await atLimit.json()) as ErrorEnvelope, 'not_found', 'id');

      const badUrl = await h.get('/api/v1/ai/jobs/%E0%A4%A', h.headers(h.adminKey, { 'x-request-id': 'b1' }));
      expect(badUrl.status).toBe(400);
      expect(badUrl.headers.get('x-request-id')).toBe('b1');
      expectEnvelope((await badUrl.json()) as ErrorEnvelope, 'invalid_request');
    });
  });

  describe('bad input', () => {
    async function expectBad(body: unknown, status: number, code: string, param: string | null): Promise<void> {
      const res = await h.post('/v1/chat/completions', body);
      expect(res.status).toBe(status);
      expect(res.headers.get('x-request-id')).toBeTruthy();
      expectEnvelope((await res.json()) as ErrorEnvelope, code, param);
    }

    it('malformed JSON -> 400 invalid_json', async () => {
      await expectBad('{"model": "sim-gpt", "messages": [', 400, 'invalid_json', null);
    });

    it('a body that is not an object -> 400', async () => {
      await expectBad('[1,2]', 400, 'invalid_request', null);
    });

    it('wrong types -> 400 naming the field, OpenAI style', async () => {
      await expectBad({ model: 'sim-gpt', messages: 'hello' }, 400, 'invalid_request', 'messages');
      await expectBad(chat('x', { temperature: 'hot' }), 400, 'invalid_request', 'temperature');
      await expectBad(chat('x', { temperature: 2.5 }), 400, 'invalid_request', 'temperature');
      await expectBad(
        { model: 'sim-gpt', messages: [{ role: 'user', content: 5 }] },
        400,
        'invalid_request',
        'messages[0].content',
      );
      await expectBad(
        {
          model: 'sim-gpt',
          messages: [
            { role: 'user', content: 'a' },
            { role: 'robot', content: 'b' },
          ],
        },
        400,
        'invalid_request',
        'messages[1].role',
      );
      await expectBad(
        chat('x', { stream_options: { include_usage: 'yes' } }),
        400,
        'invalid_request',
        'stream_options.include_usage',
      );
      await expectBad(chat('x', { stop: ['a', 'b', 'c', 'd', 'e'] }), 400, 'invalid_request', 'stop');
      await expectBad(chat('x', { max_tokens: 0 }), 400, 'invalid_request', 'max_tokens');
      await expectBad(chat('x', { top_k: -1 }), 400, 'invalid_request', 'top_k');
    });

    it('missing model or messages -> 400 naming it', async () => {
      await expectBad({ model: 'sim-gpt' }, 400, 'invalid_request', 'messages');
      await expectBad({ model: 'sim-gpt', messages: [] }, 400, 'invalid_request', 'messages');
      await expectBad({ messages: [{ role: 'user', content: 'x' }] }, 400, 'invalid_request', 'model');
    });

    it('n other than 1 -> 400 with param n', async () => {
      await expectBad(chat('x', { n: 2 }), 400, 'invalid_request', 'n');
    });

    it('an unknown routing policy -> 400 naming the body field or the header', async () => {
      await expectBad(chat('x', { policy: 'fastest-please' }), 400, 'invalid_request', 'policy');
      const res = await h.post(
        '/v1/chat/completions',
        chat('x'),
        h.headers(h.adminKey, { 'x-gateway-policy': 'nope' }),
      );
      expect(res.status).toBe(400);
      expectEnvelope((await res.json()) as ErrorEnvelope, 'invalid_request', 'x-gateway-policy');
    });

    it('an x-gateway-cache other than no-cache / no-store -> 400 naming the header, nothing queued', async () => {
      const before = h.jobsSeen.length;
      // `bypass` is what an answer's own header says; it was ignored, and the answer stored.
      for (const value of ['bypass', 'no_store', 'no-cache, nope']) {
        for (const route of ['/v1/chat/completions', '/api/v1/ai/jobs']) {
          const body = route === '/v1/chat/completions' ? chat('x') : { prompt: 'x' };
          const res = await h.post(route, body, h.headers(h.adminKey, { 'x-gateway-cache': value }));
          expect([value, route, res.status]).toEqual([value, route, 400]);
          expectEnvelope((await res.json()) as ErrorEnvelope, 'invalid_request', 'x-gateway-cache');
        }
      }
      expect(h.jobsSeen.length).toBe(before);
      const fine = await h.post(
        '/v1/chat/completions',
        chat('x'),
        h.headers(h.adminKey, { 'x-gateway-cache': 'No-Store' }),
      );
      expect(fine.status).toBe(200);
    });

    it('unknown or disabled model -> 404 model_not_found before anything is queued', async () => {
      const before = h.jobsSeen.length;
      await expectBad(chat('x', { model: 'gpt-nonexistent' }), 404, 'model_not_found', 'model');
      await expectBad(chat('x', { model: 'sim-b/sim-gpt' }), 404, 'model_not_found', 'model');
      expect(h.jobsSeen.length).toBe(before);
    });

    it('a small body nested thousands of levels deep -> 400 naming where, on every route (never a stack overflow)', async () => {
      const deep = (n: number): string => `${'['.repeat(n)}${']'.repeat(n)}`;
      const body = `{"model":"sim-gpt","messages":[{"role":"user","content":"x"}],"x":${deep(5000)}}`;
      await expectBad(body, 400, 'invalid_request', `x${'[0]'.repeat(255)}`);
      const native = await h.post('/api/v1/ai/generate', `{"prompt":"x","context":${deep(5000)}}`);
      expect(native.status).toBe(400);
      expect(((await native.json()) as ErrorEnvelope).error.param).toMatch(/^context\[0\]/);
      const messages = await h.post(
        '/v1/messages',
        `{"model":"sim-gpt","max_tokens":5,"messages":[{"role":"user","content":"x"}],"metadata":{"user_id":${deep(5000)}}}`,
      );
      expect(messages.status).toBe(400);
      // Nested as deep as a real body gets (a JSON schema, say) still takes the usual path and is accepted.
      const fine = await h.post(
        '/v1/chat/completions',
        `{"model":"sim-gpt","messages":[{"role":"user","content":"x"}],"x":${deep(200)}}`,
      );
      expect(fine.status).toBe(200);
    });

    it('oversized body -> 413 payload_too_large', async () => {
      await expectBad(chat('x'.repeat(70 * 1024)), 413, 'payload_too_large', null);
    });

    it('a body that is not JSON by its content type -> 415 unsupported_media_type, on both error shapes', async () => {
      const form = { authorization: `Bearer ${h.adminKey}`, 'content-type': 'application/x-www-form-urlencoded' };
      const res = await h.post('/v1/chat/completions', 'model=sim-gpt', form);
      expect(res.status).toBe(415);
      expectEnvelope((await res.json()) as ErrorEnvelope, 'unsupported_media_type');
      const anthropic = await h.post('/v1/messages', 'model=sim-gpt', form);
      expect(anthropic.status).toBe(415);
      expect(((await anthropic.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
      // text/plain too (Fastify parses it by default: the string then failed as "must be a JSON object", a 400).
      const json = JSON.stringify(chat('typed as text'));
      const text = await h.post('/v1/chat/completions', json, { ...form, 'content-type': 'text/plain; charset=utf-8' });
      expect(text.status).toBe(415);
      expectEnvelope((await text.json()) as ErrorEnvelope, 'unsupported_media_type');
    });

    it('a body sent with Content-Encoding gzip, deflate or br is decoded; another coding is a 415 naming those', async () => {
      const send = (body: Buffer, encoding: string, route = '/v1/chat/completions'): Promise<Response> =>
        fetch(`${h.url}${route}`, {
          method: 'POST',
          headers: h.headers(h.adminKey, { 'content-encoding': encoding }),
          body,
        });
      const json = (text: string): Buffer => Buffer.from(JSON.stringify(chat(text)));
      for (const [encoding, encode] of [
        ['gzip', gzipSync],
        ['x-gzip', gzipSync],
        ['Deflate', deflateSync],
        ['br', brotliCompressSync],
      ] as const) {
        const res = await send(encode(json(`compressed ${encoding}`)), encoding);
        expect(res.status).toBe(200);
        const body = (await res.json()) as { choices: { message: { content: string } }[] };
        expect(body.choices[0].message.content).toBe(`compressed ${encoding}`);
      }
      // Anthropic's route too, its errors in its own shape.
      const messages = { model: 'sim-gpt', max_tokens: 5, messages: [{ role: 'user', content: 'zipped' }] };
      const anthropic = await send(gzipSync(Buffer.from(JSON.stringify(messages))), 'gzip', '/v1/messages');
      expect(anthropic.status).toBe(200);
      const zstd = await send(json('zstd'), 'zstd', '/v1/messages');
      expect(zstd.status).toBe(415);
      expect(zstd.headers.get('accept-encoding')).toBe('gzip, deflate, br');
      expect(((await zstd.json()) as { type: string; error: { code: string } }).error.code).toBe(
        'unsupported_media_type',
      );

      const twice = await send(gzipSync(gzipSync(json('twice'))), 'gzip, gzip');
      expect(twice.status).toBe(415);
      expect(twice.headers.get('x-request-id')).toBeTruthy();
      expectEnvelope((await twice.json()) as ErrorEnvelope, 'unsupported_media_type', 'Content-Encoding');
      // Before, the compressed bytes were parsed as JSON: a 400 invalid_json quoting binary.
      const corrupt = await send(gzipSync(json('corrupt')).subarray(0, 20), 'gzip');
      expect(corrupt.status).toBe(400);
      expectEnvelope((await corrupt.json()) as ErrorEnvelope, 'invalid_request', 'Content-Encoding');
      const notGzip = await send(json('plain'), 'gzip');
      expect(notGzip.status).toBe(400);
      expectEnvelope((await notGzip.json()) as ErrorEnvelope, 'invalid_request', 'Content-Encoding');
    });

    it('a bodiless GET ignores its Content-Encoding: nothing to decode, not a 415', async () => {
      const get = await h.get('/v1/models', h.headers(h.adminKey, { 'content-encoding': 'zstd' }));
      expect(get.status).toBe(200);
    });

    it('the body limit holds for the decoded body: a small compressed body that inflates past it is a 413', async () => {
      const before = h.jobsSeen.length;
      const bomb = gzipSync(JSON.stringify(chat(' '.repeat(16 * 1024 * 1024))));
      expect(bomb.length).toBeLessThan(64 * 1024);
      const res = await fetch(`${h.url}/v1/chat/completions`, {
        method: 'POST',
        headers: h.headers(h.adminKey, { 'content-encoding': 'gzip' }),
        body: bomb,
      });
      expect(res.status).toBe(413);
      expectEnvelope((await res.json()) as ErrorEnvelope, 'payload_too_large');
      expect(h.jobsSeen.length).toBe(before);
      // The connection's next request is served as usual.
      expect((await h.post('/v1/chat/completions', chat('after the bomb'))).status).toBe(200);
    });

    it('a body in the charset its Content-Type names is read in it; a charset nothing reads is a 415', async () => {
      const send = (body: Buffer, contentType: string): Promise<Response> =>
        fetch(`${h.url}/v1/chat/completions`, {
          method: 'POST',
          headers: h.headers(h.adminKey, { 'content-type': contentType }),
          body,
        });
      const json = JSON.stringify(chat('café crème'));
      // Before, ISO-8859-1 bytes were read as UTF-8: the prompt said 'caf\uFFFD cr\uFFFDme'.
      for (const [contentType, body] of [
        ['application/json; charset=ISO-8859-1', Buffer.from(json, 'latin1')],
        ['application/json;charset="windows-1252"', Buffer.from(json, 'latin1')],
        ['application/json; charset=utf-16le', Buffer.from(json, 'utf16le')],
        ['application/json; charset=UTF-8', Buffer.from(json, 'utf8')],
        ['application/json', Buffer.from(`\uFEFF${json}`, 'utf8')],
      ] as const) {
        const res = await send(body, contentType);
        expect([contentType, res.status]).toEqual([contentType, 200]);
        const answer = (await res.json()) as { choices: { message: { content: string } }[] };
        expect(answer.choices[0].message.content).toBe('café crème');
      }
      const unknown = await send(Buffer.from(json), 'application/json; charset=klingon');
      expect(unknown.status).toBe(415);
      expectEnvelope((await unknown.json()) as ErrorEnvelope, 'unsupported_media_type', 'Content-Type');
    });

    it('a body that is not valid UTF-8 and names no other charset is a 400, not a prompt with U+FFFD in it', async () => {
      const before = h.jobsSeen.length;
      // Latin-1 bytes sent as if UTF-8: before, the prompt reached the provider as 'caf\uFFFD cr\uFFFDme'.
      const res = await fetch(`${h.url}/v1/chat/completions`, {
        method: 'POST',
        headers: h.headers(h.adminKey, { 'content-type': 'application/json' }),
        body: Buffer.from(JSON.stringify(chat('café crème')), 'latin1'),
      });
      expect(res.status).toBe(400);
      const body = (await res.json()) as ErrorEnvelope;
      expectEnvelope(body, 'invalid_json');
      expect(body.error.message).toContain('UTF-8');
      expect(h.jobsSeen.length).toBe(before);
    });

    it('ignores OpenAI fields it has no use for', async () => {
      const res = await h.post('/v1/chat/completions', chat('extra fields', { user: 'u1', seed: 3, logit_bias: {} }));
      expect(res.status).toBe(200);
    });

    it('native API: exactly one of prompt and messages', async () => {
      const neither = await h.post('/api/v1/ai/generate', { model: 'sim-gpt' });
      expect(neither.status).toBe(400);
      expectEnvelope((await neither.json()) as ErrorEnvelope, 'invalid_request', 'prompt');
      const both = await h.post('/api/v1/ai/generate', { prompt: 'a', messages: [{ role: 'user', content: 'b' }] });
      expect(both.status).toBe(400);
      expectEnvelope((await both.json()) as ErrorEnvelope, 'invalid_request', 'messages');
      const badOption = await h.post('/api/v1/ai/generate', { prompt: 'a', options: { maxTokens: 1.5 } });
      expectEnvelope((await badOption.json()) as ErrorEnvelope, 'invalid_request', 'options.maxTokens');
    });

    it('native API: an unknown field is a 400 naming it, never ignored (a limit spelt max_tokens billed the whole answer)', async () => {
      const before = h.jobsSeen.length;
      const cases: [string, Record<string, unknown>, string, string | null][] = [
        ['/api/v1/ai/generate', { prompt: 'x', options: { max_tokens: 3 } }, 'options.max_tokens', 'maxTokens'],
        ['/api/v1/ai/jobs', { prompt: 'x', options: { top_p: 0.5 } }, 'options.top_p', 'topP'],
        ['/api/v1/ai/generate', { prompt: 'x', system_prompt: 'be brief' }, 'system_prompt', 'systemPrompt'],
        ['/api/v1/ai/jobs', { prompt: 'x', allow_fallback: false }, 'allow_fallback', 'allowFallback'],
        ['/api/v1/ai/generate', { prompt: 'x', stream: true }, 'stream', null],
        ['/api/v1/ai/generate', { prompt: 'x', options: { maxTokens: 3, seed: 1 } }, 'options.seed', null],
        // The first unknown field is named even when another field is invalid too.
        ['/api/v1/ai/generate', { prompt: 7, optoins: {} }, 'optoins', null],
      ];
      for (const [path, body, param, hint] of cases) {
        const res = await h.post(path, body);
        expect(res.status).toBe(400);
        expect(res.headers.get('x-request-id')).toBeTruthy();
        const envelope = (await res.json()) as ErrorEnvelope;
        expectEnvelope(envelope, 'invalid_request', param);
        expect(envelope.error.message).toContain(hint === null ? 'no such field' : `'${hint}'`);
      }
      expect(h.jobsSeen.length).toBe(before);
      // Messages stay OpenAI's: fields the gateway has no use for are ignored there, as on /v1/chat/completions.
      const res = await h.post('/api/v1/ai/generate', {
        messages: [{ role: 'user', content: 'x', name: 'ann' }],
        options: { maxTokens: 3, temperature: 0, topP: 1, stop: 'END' },
      });
      expect(res.status).toBe(200);
    });
  });

  describe('models', () => {
    it('GET /v1/models lists every enabled deployment and model name', async () => {
      const res = await h.get('/v1/models');
      const body = (await res.json()) as { object: string; data: { id: string; object: string; owned_by: string }[] };
      expect(body.object).toBe('list');
      expect(body.data.map((m) => m.id).sort()).toEqual(['sim-b/sim-claude', 'sim-claude', 'sim-gpt', 'sim/sim-gpt']);
      expect(body.data.every((m) => m.object === 'model')).toBe(true);
    });

    it('GET /v1/models/{id} answers one model, the slash of a deployment id sent plainly or encoded', async () => {
      for (const path of ['/v1/models/sim/sim-gpt', '/v1/models/sim%2Fsim-gpt']) {
        const res = await h.get(path);
        expect(res.status).toBe(200);
        expect(await res.json()).toEqual({
          id: 'sim/sim-gpt',
          object: 'model',
          created: expect.any(Number),
          owned_by: 'sim',
        });
      }
      expect(await (await h.get('/v1/models/sim-claude')).json()).toMatchObject({ id: 'sim-claude', owned_by: 'aigw' });
      const missing = await h.get('/v1/models/sim/no-such-model');
      expect(missing.status).toBe(404);
      expectEnvelope((await missing.json()) as ErrorEnvelope, 'model_not_found', 'model');
      expect((await fetch(`${h.url}/v1/models/sim-gpt`)).status).toBe(401);
    });

    it('GET /v1/models/{id} over 1,024 characters is not_found, as an over-long parameter is on every route', async () => {
      for (const id of ['x'.repeat(1025), `sim/${'x'.repeat(1100)}`, `sim%2F${'x'.repeat(1100)}`]) {
        const res = await h.get(`/v1/models/${id}`);
        expect(res.status).toBe(404);
        expectEnvelope((await res.json()) as ErrorEnvelope, 'not_found');
      }
      // Up to the limit it is the model's own answer.
      const atLimit = await h.get(`/v1/models/${'x'.repeat(1024)}`);
      expect(atLimit.status).toBe(404);
      expectEnvelope((await atLimit.json()) as ErrorEnvelope, 'model_not_found', 'model');
    });

    it('GET /api/v1/ai/models shows prices and capabilities, never secrets or base URLs', async () => {
      const res = await h.get('/api/v1/ai/models');
      const text = await res.text();
      expect(res.status).toBe(200);
      expect(text).not.toContain('sk-sim-secret');
      expect(text).not.toContain(h.sim.url);
      const body = JSON.parse(text) as {
        data: { id: string; pricing: { promptPer1k: number }; capabilities: string[] }[];
      };
      const gpt = body.data.find((d) => d.id === 'sim/sim-gpt');
      expect(gpt?.pricing.promptPer1k).toBe(0.001);
      expect(gpt?.capabilities).toEqual(['chat', 'streaming']);
    });
  });

  it("/metrics counts the router's own refusals (bad percent-encoding, path too long) as unmatched", async () => {
    const unmatched = async (status: number): Promise<number> => {
      const text = await (await fetch(`${h.url}/metrics`)).text();
      const line = new RegExp(
        `^aigw_http_requests_total\\{route="unmatched",method="GET",status="${status}"\\} (\\S+)$`,
        'm',
      );
      return Number(line.exec(text)?.[1] ?? 0);
    };
    const before = { 400: await unmatched(400), 404: await unmatched(404) };
    expect((await h.get('/api/v1/ai/jobs/%E0%A4%A')).status).toBe(400);
    expect((await h.get(`/api/v1/ai/jobs/${'z'.repeat(1100)}`)).status).toBe(404);
    expect(await unmatched(400)).toBe(before[400] + 1);
    expect(await unmatched(404)).toBe(before[404] + 1);
  });

  it('/metrics exposes the gateway metrics, labelled by route pattern', async () => {
    await h.post('/v1/chat/completions', chat('count me'));
    await h.get('/api/v1/ai/jobs/req_doesnotexist');
    const text = await (await fetch(`${h.url}/metrics`)).text();
    for (const name of [
      'aigw_http_requests_total',
      'aigw_http_request_duration_seconds',
      'aigw_requests_total',
      'aigw_gateway_overhead_seconds',
    ]) {
      expect(text).toContain(name);
    }
    expect(text).toContain('route="/api/v1/ai/jobs/:id"');
    expect(text).not.toContain('req_doesnotexist');
    expect(text).toMatch(/aigw_requests_total\{provider="sim",model="sim-gpt",status="success",cache="bypass"\} \d+/);
  });
});
