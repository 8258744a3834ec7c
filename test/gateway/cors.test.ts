import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { chat, GatewayHarness, type ErrorEnvelope } from './support';

const APP = 'http://app.example:5173';
const OTHER = 'https://other.example';
const STRANGER = 'https://evil.example';

/**
 * Request headers a browser sends without a preflight asking for them: CORS-safelisted ones (as the SDKs send them),
 * and `user-agent`, which Chromium does not let a page set (it sends its own).
 */
const NO_PREFLIGHT = new Set(['accept', 'accept-language', 'content-language', 'user-agent']);

function preflight(url: string, origin: string, method: string, headers: string[] = []): Promise<Response> {
  const ask: Record<string, string> = { origin, 'access-control-request-method': method };
  if (headers.length > 0) {
    ask['access-control-request-headers'] = headers.join(',');
  }
  return fetch(url, { method: 'OPTIONS', headers: ask });
}

function listOf(header: string | null): string[] {
  return (header ?? '').split(',').map((s) => s.trim().toLowerCase());
}

/**
 * A fetch that does what a browser on `origin` does: a preflight for any header that needs one (failing as the
 * browser would when the gateway does not allow it), then the request with `Origin`, whose answer must allow it.
 */
function browserFetch(origin: string, asked: string[][]): typeof fetch {
  return async (input, init) => {
    const headers = new Headers(init?.headers);
    const names = [...headers.keys()].filter((n) => !NO_PREFLIGHT.has(n));
    asked.push(names);
    const url = input instanceof Request ? input.url : String(input);
    const method = init?.method ?? 'GET';
    const pre = await preflight(url, origin, method, names);
    const allowedHeaders = listOf(pre.headers.get('access-control-allow-headers'));
    const refused = names.filter((n) => !allowedHeaders.includes(n));
    if (pre.headers.get('access-control-allow-origin') !== origin || refused.length > 0) {
      throw new TypeError(`preflight refused (${pre.status}): ${refused.join(', ')}`);
    }
    headers.set('origin', origin);
    const res = await fetch(input, { ...init, headers });
    if (res.headers.get('access-control-allow-origin') !== origin) {
      throw new TypeError('answer without Access-Control-Allow-Origin');
    }
    return res;
  };
}

describe('api-gateway: CORS with CORS_ORIGINS set to origins', () => {
  const h = new GatewayHarness({
    CORS_ORIGINS: `${APP}, ${OTHER}`,
    MODELS_PUBLIC: 'true',
    MODELS_PUBLIC_RPM: '1',
  });

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);

  it('answers a preflight without a key, before any check: 204 with the methods, headers and max age', async () => {
    const res = await preflight(`${h.url}/v1/chat/completions`, APP, 'POST', [
      'authorization',
      'content-type',
      'x-stainless-os',
      'idempotency-key',
    ]);
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    expect(res.headers.get('vary')).toBe('Origin');
    expect(listOf(res.headers.get('access-control-allow-methods'))).toEqual(
      expect.arrayContaining(['get', 'post', 'delete', 'patch']),
    );
    expect(listOf(res.headers.get('access-control-allow-headers'))).toEqual(
      expect.arrayContaining(['authorization', 'x-api-key', 'content-type', 'idempotency-key', 'anthropic-version']),
    );
    expect(res.headers.get('access-control-max-age')).toBe('7200');
    expect(res.headers.get('x-request-id')).toMatch(/^req_/);
    expect(await res.text()).toBe('');
  });

  it('answers a request from a listed origin with its origin and the headers a page may read', async () => {
    const res = await h.post('/v1/chat/completions', chat('hi'), h.headers(undefined, { origin: OTHER }));
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(OTHER);
    expect(res.headers.get('vary')).toBe('Origin');
    // The models listing varies by the key too: both kept, Origin's first.
    const listing = await h.get('/api/v1/ai/models', h.headers(undefined, { origin: OTHER }));
    expect([listing.status, listing.headers.get('vary')]).toEqual([200, 'Origin, Authorization, x-api-key']);
    const exposed = listOf(res.headers.get('access-control-expose-headers'));
    expect(exposed).toEqual(
      expect.arrayContaining([
        'x-request-id',
        'retry-after',
        'x-should-retry',
        'x-ratelimit-remaining-requests',
        'x-gateway-provider',
        'x-gateway-cost-usd',
      ]),
    );
    // Every header the answer carries that a page cannot read unless told.
    const carried = [...res.headers.keys()].filter((n) => n.startsWith('x-'));
    expect(exposed).toEqual(expect.arrayContaining(carried));
  });

  it('gives an origin not listed, and a request without Origin, no Access-Control-Allow-Origin', async () => {
    const stranger = await h.post('/v1/chat/completions', chat('hi'), h.headers(undefined, { origin: STRANGER }));
    expect(stranger.status).toBe(200);
    expect(stranger.headers.get('access-control-allow-origin')).toBeNull();
    expect(stranger.headers.get('access-control-expose-headers')).toBeNull();
    expect(stranger.headers.get('vary')).toBe('Origin');
    const none = await h.post('/v1/chat/completions', chat('hi'));
    expect(none.headers.get('access-control-allow-origin')).toBeNull();
    // Its preflight is answered as without CORS: the browser refuses the call.
    const pre = await preflight(`${h.url}/v1/chat/completions`, STRANGER, 'POST', ['authorization']);
    expect(pre.status).toBe(204);
    expect(pre.headers.get('allow')).toBe('POST');
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
    expect(pre.headers.get('access-control-allow-headers')).toBeNull();
  });

  it('puts the headers on error envelopes: 401 without a key, 404, 429 with Retry-After', async () => {
    const unkeyed = await h.post('/v1/chat/completions', chat('hi'), {
      'content-type': 'application/json',
      origin: APP,
    });
    expect(unkeyed.status).toBe(401);
    expect(unkeyed.headers.get('access-control-allow-origin')).toBe(APP);
    expect(((await unkeyed.json()) as ErrorEnvelope).error.code).toBe('invalid_api_key');

    const missing = await h.get('/v1/nothing-here', h.headers(undefined, { origin: APP }));
    expect(missing.status).toBe(404);
    expect(missing.headers.get('access-control-allow-origin')).toBe(APP);

    // MODELS_PUBLIC_RPM=1: the second listing without a key in the minute is refused.
    const first = await fetch(`${h.url}/api/v1/ai/models`, { headers: { origin: APP } });
    expect(first.status).toBe(200);
    const limited = await fetch(`${h.url}/api/v1/ai/models`, { headers: { origin: APP } });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('access-control-allow-origin')).toBe(APP);
    expect(limited.headers.get('retry-after')).not.toBeNull();
    expect(listOf(limited.headers.get('access-control-expose-headers'))).toContain('retry-after');
    expect(((await limited.json()) as ErrorEnvelope).error.code).toBe('rate_limit_exceeded');
  });

  /** Sends a request's head only and reads the answer the gateway gives before the body. */
  function headOnly(head: string): Promise<string> {
    // Up to a whole answer (Node keeps the connection of a 417 open).
    return h.raw(head, {
      done: (got) => {
        const end = got.indexOf('\r\n\r\n');
        const length = Number(/\r\ncontent-length: (\d+)/i.exec(got)?.[1] ?? NaN);
        return end !== -1 && got.length - end - 4 >= length;
      },
    });
  }

  it.each([
    ['100-continue', 401, 'invalid_api_key'],
    ['something-else', 417, 'invalid_request'],
  ])('puts the headers on the answer given before the body (Expect: %s)', async (expectation, status, code) => {
    const got = await headOnly(
      `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\norigin: ${APP}\r\ncontent-type: application/json\r\n` +
        `content-length: 50000\r\nexpect: ${expectation}\r\n\r\n`,
    );
    expect(got).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    const head = got.slice(0, got.indexOf('\r\n\r\n'));
    expect(head).toMatch(new RegExp(`\\r\\naccess-control-allow-origin: ${APP}\\r\\n`, 'i'));
    expect(head).toMatch(/\r\naccess-control-expose-headers: [^\r]*x-request-id/i);
    expect(JSON.parse(got.slice(got.indexOf('\r\n\r\n') + 4))).toMatchObject({ error: { code } });
  });

  it("puts the headers on the 431 Node's parser answers for headers over its limit, for a listed origin only", async () => {
    const big = `x-padding: ${'p'.repeat(20_000)}\r\n`;
    const headOf = (got: string): string => got.slice(0, got.indexOf('\r\n\r\n'));
    // Origin before and after the header that overflows: both arrive in the read the parser refuses.
    for (const head of [
      `GET /v1/models HTTP/1.1\r\nhost: x\r\norigin: ${APP}\r\n${big}\r\n`,
      `GET /v1/models HTTP/1.1\r\nhost: x\r\n${big}Origin:  ${APP} \r\n\r\n`,
    ]) {
      const got = await h.raw(head);
      expect(got).toMatch(/^HTTP\/1\.1 431 /);
      expect(headOf(got)).toMatch(new RegExp(`\\r\\naccess-control-allow-origin: ${APP}\\r\\n`, 'i'));
      expect(headOf(got)).toMatch(/\r\naccess-control-allow-credentials: true\r\n/i);
      expect(headOf(got)).toMatch(/\r\naccess-control-expose-headers: [^\r]*x-request-id/i);
      expect(headOf(got)).toMatch(/\r\nvary: Origin\r\n/i);
      expect(JSON.parse(got.slice(got.indexOf('\r\n\r\n') + 4))).toMatchObject({ error: { code: 'invalid_request' } });
    }
    // An origin not listed (or one that merely starts with a listed one) is not allowed.
    for (const origin of [STRANGER, `${APP}.evil.example`, `${APP}/`]) {
      const got = await h.raw(`GET /v1/models HTTP/1.1\r\nhost: x\r\norigin: ${origin}\r\n${big}\r\n`);
      expect(got).toMatch(/^HTTP\/1\.1 431 /);
      expect(headOf(got)).not.toMatch(/access-control-/i);
    }
  });

  it('counts the answers given in onRequest (a preflight, an early 401) in aigw_http_requests_total', async () => {
    const count = async (method: string, status: number): Promise<number> => {
      const text = await (await fetch(`${h.url}/metrics`)).text();
      const line = new RegExp(
        `^aigw_http_requests_total\\{route="[^"]*",method="${method}",status="${status}"\\} (\\d+)$`,
        'gm',
      );
      return [...text.matchAll(line)].reduce((sum, m) => sum + Number(m[1]), 0);
    };
    const preflights = await count('OPTIONS', 204);
    await preflight(`${h.url}/v1/chat/completions`, APP, 'POST', ['authorization']);
    const refused = await count('POST', 401);
    await headOnly(
      `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\norigin: ${APP}\r\ncontent-type: application/json\r\n` +
        `content-length: 50000\r\nexpect: 100-continue\r\n\r\n`,
    );
    expect(await count('OPTIONS', 204)).toBe(preflights + 1);
    expect(await count('POST', 401)).toBe(refused + 1);
  });

  it('puts the headers on an SSE stream', async () => {
    const res = await h.post(
      '/v1/chat/completions',
      chat('hello there', { stream: true }),
      h.headers(undefined, { origin: APP }),
    );
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
    expect(listOf(res.headers.get('access-control-expose-headers'))).toContain('x-gateway-provider');
    expect(await res.text()).toContain('data: [DONE]');
  });

  it('lets the OpenAI and Anthropic SDKs through as a browser would (each header they send is allowed)', async () => {
    const asked: string[][] = [];
    const openai = new OpenAI({
      baseURL: `${h.url}/v1`,
      apiKey: h.adminKey,
      maxRetries: 0,
      fetch: browserFetch(APP, asked),
      dangerouslyAllowBrowser: true,
      organization: 'org-x',
      project: 'proj-x',
    });
    const completion = await openai.chat.completions.create({
      model: 'sim-gpt',
      messages: [{ role: 'user', content: 'from a page' }],
    });
    expect(completion.choices[0].message.content).toBe('from a page');
    const stream = await openai.chat.completions.create({
      model: 'sim-gpt',
      messages: [{ role: 'user', content: 'streamed to a page' }],
      stream: true,
    });
    let text = '';
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
    }
    expect(text).toBe('streamed to a page');

    const anthropic = new Anthropic({
      baseURL: h.url,
      apiKey: h.adminKey,
      maxRetries: 0,
      fetch: browserFetch(APP, asked),
      dangerouslyAllowBrowser: true,
    });
    const message = await anthropic.messages.create(
      { model: 'sim-gpt', max_tokens: 16, messages: [{ role: 'user', content: 'anthropic from a page' }] },
      { headers: { 'anthropic-beta': 'prompt-caching-2024-07-31' } },
    );
    expect(message.content[0]).toMatchObject({ type: 'text', text: 'anthropic from a page' });
    const names = new Set(asked.flat());
    expect([...names]).toEqual(
      expect.arrayContaining([
        'authorization',
        'anthropic-version',
        'anthropic-dangerous-direct-browser-access',
        'x-stainless-retry-count',
        'x-stainless-timeout',
        'openai-project',
      ]),
    );
  });
});

describe('api-gateway: CORS with CORS_ORIGINS=*', () => {
  const h = new GatewayHarness({ CORS_ORIGINS: '*' });

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);

  it('allows any origin, without credentials or Vary', async () => {
    const pre = await preflight(`${h.url}/v1/chat/completions`, STRANGER, 'POST', ['authorization', 'content-type']);
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('*');
    expect(pre.headers.get('access-control-allow-credentials')).toBeNull();
    const res = await h.post('/v1/chat/completions', chat('hi'), h.headers(undefined, { origin: STRANGER }));
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    expect(res.headers.get('vary')).toBeNull();
  });

  it("puts the headers on the 431 Node's parser answers, whatever the Origin (none needed)", async () => {
    const got = await h.raw(`GET /v1/models HTTP/1.1\r\nhost: x\r\nx-padding: ${'p'.repeat(20_000)}\r\n\r\n`);
    expect(got).toMatch(/^HTTP\/1\.1 431 /);
    expect(got.slice(0, got.indexOf('\r\n\r\n'))).toMatch(/\r\naccess-control-allow-origin: \*\r\n/i);
  });
});

describe('api-gateway: CORS_ORIGINS unset', () => {
  const h = new GatewayHarness();

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);

  it('sends no CORS header, and a preflight gets the 204 with Allow it always did', async () => {
    const pre = await preflight(`${h.url}/v1/chat/completions`, APP, 'POST', ['authorization']);
    expect(pre.status).toBe(204);
    expect(pre.headers.get('allow')).toBe('POST');
    expect([...pre.headers.keys()].filter((n) => n.startsWith('access-control-'))).toEqual([]);
    const res = await h.post('/v1/chat/completions', chat('hi'), h.headers(undefined, { origin: APP }));
    expect(res.status).toBe(200);
    expect([...res.headers.keys()].filter((n) => n.startsWith('access-control-') || n === 'vary')).toEqual([]);
    const got = await h.raw(
      `GET /v1/models HTTP/1.1\r\nhost: x\r\norigin: ${APP}\r\nx-big: ${'p'.repeat(20_000)}\r\n\r\n`,
    );
    expect(got).toMatch(/^HTTP\/1\.1 431 /);
    expect(got.slice(0, got.indexOf('\r\n\r\n'))).not.toMatch(/access-control-|vary/i);
  });
});
