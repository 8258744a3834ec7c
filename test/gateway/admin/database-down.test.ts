import { ApiKeyStore } from '@aigw/entities';
import { CuttableRelay } from '@aigw/testing';
import { ResponseContract, type OpenApiDocument } from '../docs/contract';
import { GatewayHarness } from '../support';

describe('admin API while PostgreSQL is down', () => {
  const users = (): Promise<Response> =>
    fetch(`${h.url}/api/v1/ai/admin/users`, { headers: { authorization: `Bearer ${h.adminKey}` } });

  const relay = new CuttableRelay();
  let h: GatewayHarness;

  beforeAll(async () => {
    await relay.open();
    // A key cache shorter than the wait below: authentication itself must meet the outage too.
    h = new GatewayHarness({ DATABASE_URL: relay.url(), AUTH_CACHE_TTL_MS: '100' });
    await h.start();
  }, 60_000);

  afterAll(async () => {
    await relay.open();
    await h.stop();
    await relay.cut();
  }, 30_000);

  it('answers 503 service_unavailable with Retry-After, not 500 internal_error, and again once it is back', async () => {
    expect((await users()).status).toBe(200);
    await relay.cut();
    await new Promise((r) => setTimeout(r, 200));
    for (let i = 0; i < 3; i++) {
      const reply = await users();
      expect(reply.status).toBe(503);
      expect(await reply.json()).toEqual({
        error: {
          message: 'The database is unavailable; retry shortly.',
          type: 'service_unavailable_error',
          code: 'service_unavailable',
          param: null,
        },
      });
      expect(reply.headers.get('retry-after')).toBe('5');
    }
    await relay.open();
    expect((await users()).status).toBe(200);
  });

  it("answers the 503 the OpenAPI document declares for each route, with Retry-After (a generated client's retry)", async () => {
    const contract = new ResponseContract((await (await fetch(`${h.url}/docs-json`)).json()) as OpenApiDocument);
    const userKey = await h.userKey('outage-docs');
    const routes: [string, string][] = [
      ['/api/v1/ai/admin/users', h.adminKey],
      ['/api/v1/ai/preferences', userKey],
      ['/api/v1/ai/usage', userKey],
    ];
    await relay.cut();
    await new Promise((r) => setTimeout(r, 200));
    try {
      for (const [route, key] of routes) {
        const reply = await fetch(`${h.url}${route}`, { headers: { authorization: `Bearer ${key}` } });
        expect({ route, status: reply.status }).toEqual({ route, status: 503 });
        expect(await contract.conforms('get', route, reply)).toMatchObject({ error: { code: 'service_unavailable' } });
        const declared = contract.doc.paths[route].get.responses['503'].headers ?? {};
        expect({ route, headers: Object.keys(declared) }).toEqual({ route, headers: ['x-request-id', 'Retry-After'] });
      }
    } finally {
      await relay.open();
    }
  });

  it('keeps accepting a key it knows, and records that use once PostgreSQL is back', async () => {
    const keys = h.app.get(ApiKeyStore);
    const created = await keys.create({ userName: 'outage-user', role: 'user' });
    const lastUsed = async (): Promise<number> => {
      const found = (await keys.list({ userId: created.userId })).find((k) => k.id === created.id);
      return found?.lastUsedAt?.getTime() ?? 0;
    };
    const listModels = (): Promise<Response> => fetch(`${h.url}/v1/models`, { headers: h.headers(created.key) });
    expect((await listModels()).status).toBe(200);
    await waitFor(async () => (await lastUsed()) > 0);

    await relay.cut();
    const usedFrom = Date.now();
    expect((await listModels()).status).toBe(200);
    // Longer than the authenticator's batching of `last_used_at` (5 s): one write of it meets the outage.
    await new Promise((r) => setTimeout(r, 6_000));
    await relay.open();
    await waitFor(async () => (await lastUsed()) >= usedFrom);
  }, 40_000);
});

/** Polls `check` every 250 ms until it holds; fails after `timeoutMs`. */
async function waitFor(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) {
      return;
    }
    if (Date.now() > until) {
      throw new Error(`still not so after ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
