import net from 'node:net';
import { ApiKeyStore } from '@aigw/entities';
import { freePort } from '@aigw/testing';
import { DATABASE_URL, GatewayHarness } from '../support';

/**
 * A TCP relay to the test PostgreSQL that the test can cut (the shared server must never be stopped): the gateway's
 * pool then meets refused connections and connections ended mid-use, as in a real outage.
 */
class CuttableRelay {
  private readonly sockets = new Set<net.Socket>();
  private server: net.Server | null = null;
  port = 0;

  async open(): Promise<void> {
    if (this.server !== null) {
      return;
    }
    const target = new URL(DATABASE_URL);
    this.port ||= await freePort();
    const server = net.createServer((client) => {
      const upstream = net.connect(Number(target.port || 5432), target.hostname);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.server = server;
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) {
      s.destroy();
    }
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }

  url(): string {
    const u = new URL(DATABASE_URL);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }
}

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
