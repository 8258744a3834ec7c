import { connect } from 'node:net';
import { ApiKeyStore } from '@aigw/entities';
import { keyedRoutes } from '../../apps/api-gateway/src/auth/early-key-check';
import { chat, GatewayHarness, type ErrorEnvelope } from './support';

const LIMIT = 64 * 1024;
/** What a client sends with `Expect: 100-continue` (curl: any body over 1 KiB): a large body, held back. */
const LARGE = 60 * 1024;

/**
 * `Expect: 100-continue`: a request the gateway refuses anyway (no or an invalid key, no such route, a body it does
 * not take) is refused before the client sends its body, not after the upload.
 */
describe('api-gateway: Expect: 100-continue', () => {
  const h = new GatewayHarness({ MAX_BODY_BYTES: String(LIMIT) });

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);

  /**
   * Sends `head` (the request's headers, no body) and reads what comes back: until the server closes the connection
   * (an answer given without the body), or up to a `100 Continue`, which asks for the body this client never sends.
   */
  function headOnly(head: string): Promise<string> {
    return h.raw(head, { done: (got) => got.startsWith('HTTP/1.1 100 ') });
  }

  function request(method: string, path: string, headers: Record<string, string>, length = LARGE): string {
    const lines = Object.entries({
      host: 'x',
      'content-type': 'application/json',
      'content-length': String(length),
      expect: '100-continue',
      ...headers,
    }).map(([k, v]) => `${k}: ${v}\r\n`);
    return `${method} ${path} HTTP/1.1\r\n${lines.join('')}\r\n`;
  }

  function statusOf(response: string): number {
    return Number(/^HTTP\/1\.1 (\d{3}) /.exec(response)?.[1]);
  }

  function headerOf(response: string, name: string): string | undefined {
    const head = response.slice(0, response.indexOf('\r\n\r\n'));
    return new RegExp(`\\r\\n${name}: ([^\\r]*)`, 'i').exec(head)?.[1];
  }

  function bodyOf<T = ErrorEnvelope>(response: string): T {
    return JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)) as T;
  }

  function expectRefused(response: string, status: number, code: string): void {
    expect(response).not.toMatch(/^HTTP\/1\.1 100 /);
    expect(statusOf(response)).toBe(status);
    expect(headerOf(response, 'x-request-id')).toMatch(/^req_[0-9a-f]{32}$/);
    expect(headerOf(response, 'connection')).toBe('close');
    expect(bodyOf(response).error.code).toBe(code);
  }

  it('401 without a key, before the body', async () => {
    expectRefused(await headOnly(request('POST', '/v1/chat/completions', {})), 401, 'invalid_api_key');
  });

  it('401 with an unknown key (looked up in the database), before the body', async () => {
    const response = await headOnly(
      request('POST', '/v1/chat/completions', { authorization: 'Bearer sk-aigw-unknown-continue-0123456789' }),
    );
    expectRefused(response, 401, 'invalid_api_key');
    expect(response).not.toContain('unknown-continue');
  });

  it('401 with a revoked key, before the body', async () => {
    const store = h.app.get(ApiKeyStore);
    const { id, key } = await store.create({ userName: 'revoked-continue', role: 'user' });
    await store.revoke(id);
    expectRefused(
      await headOnly(request('POST', '/v1/chat/completions', { authorization: `Bearer ${key}` })),
      401,
      'invalid_api_key',
    );
  });

  it("401 in Anthropic's shape on /v1/messages, before the body", async () => {
    const response = await headOnly(request('POST', '/v1/messages', { 'x-api-key': 'sk-aigw-nope-0123456789' }));
    expect(response).not.toMatch(/^HTTP\/1\.1 100 /);
    expect(statusOf(response)).toBe(401);
    expect(bodyOf<{ type: string; error: { type: string } }>(response)).toMatchObject({
      type: 'error',
      error: { type: 'authentication_error' },
    });
  });

  it('404 for a path no route takes and 405 for another method, before the body', async () => {
    const auth = { authorization: `Bearer ${h.adminKey}` };
    expectRefused(await headOnly(request('POST', '/v1/nothing-here', auth)), 404, 'not_found');
    const wrongMethod = await headOnly(request('PUT', '/v1/chat/completions', auth));
    expectRefused(wrongMethod, 405, 'method_not_allowed');
    expect(headerOf(wrongMethod, 'allow')).toBe('POST');
  });

  it('415 for a content type it does not take, before the body', async () => {
    const response = await headOnly(
      request('POST', '/v1/chat/completions', { authorization: `Bearer ${h.adminKey}`, 'content-type': 'text/plain' }),
    );
    expectRefused(response, 415, 'unsupported_media_type');
  });

  it('415 for a compressed body of a content type it does not take, or of a coding it does not read, before the body', async () => {
    const auth = { authorization: `Bearer ${h.adminKey}` };
    const gzipText = { ...auth, 'content-type': 'text/plain', 'content-encoding': 'gzip' };
    expectRefused(await headOnly(request('POST', '/v1/chat/completions', gzipText)), 415, 'unsupported_media_type');
    const compress = { ...auth, 'content-encoding': 'compress' };
    const refused = await headOnly(request('POST', '/v1/chat/completions', compress));
    expectRefused(refused, 415, 'unsupported_media_type');
    expect(bodyOf(refused).error.param).toBe('Content-Encoding');
  });

  it('415 for a JSON body in a charset nothing reads, before the body', async () => {
    const headers = { authorization: `Bearer ${h.adminKey}`, 'content-type': 'application/json; charset=klingon' };
    const response = await headOnly(request('POST', '/v1/chat/completions', headers));
    expectRefused(response, 415, 'unsupported_media_type');
    expect(bodyOf(response).error.param).toBe('Content-Type');
    // Compressed, likewise.
    const gzip = await headOnly(request('POST', '/v1/chat/completions', { ...headers, 'content-encoding': 'gzip' }));
    expectRefused(gzip, 415, 'unsupported_media_type');
  });

  it('413 for a body declared over the limit, before the body', async () => {
    const response = await headOnly(
      request('POST', '/v1/chat/completions', { authorization: `Bearer ${h.adminKey}` }, LIMIT * 2),
    );
    expectRefused(response, 413, 'payload_too_large');
  });

  it('knows each keyed route by the path the app serves it at (no global prefix, version or RouterModule path)', () => {
    const fastify = h.app.getHttpAdapter().getInstance();
    const routes = [...keyedRoutes(h.app).keys()];
    expect(routes).toEqual(expect.arrayContaining(['POST /v1/chat/completions', 'POST /v1/messages']));
    const unserved = routes.filter((route) => {
      const [method, url] = route.split(' ');
      return !fastify.hasRoute({ method, url });
    });
    expect(unserved).toEqual([]);
  });

  it('100 Continue for a valid key, then the answer to the body sent after it', async () => {
    const body = JSON.stringify(chat('continued'));
    const head = request(
      'POST',
      '/v1/chat/completions',
      { authorization: `Bearer ${h.adminKey}`, connection: 'close' },
      Buffer.byteLength(body),
    );
    const url = new URL(h.url);
    const response = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname, () => socket.write(head));
      let got = '';
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => {
        const first = got === '';
        got += d;
        if (first && got.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) {
          socket.write(body);
        }
      });
      socket.on('close', () => resolve(got));
      socket.on('error', reject);
    });
    expect(response).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    expect(response).toContain('continued');
  });
});
