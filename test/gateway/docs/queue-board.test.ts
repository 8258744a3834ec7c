import path from 'node:path';
import type { AppControllerRoute, AppViewRoute, IServerAdapter } from '@bull-board/api/dist/types';
import { waitFor } from '@aigw/testing';
import { BOARD_ROUTES, boardUiPath } from '../../../apps/api-gateway/src/admin/queue-board';
import { GatewayHarness, type ErrorEnvelope } from '../support';

// Counts each load of Bull Board's package into this file's module registry (the gateway's included): the gateway
// loads it on the first authorised request to the board, not at boot.
jest.mock('@bull-board/api', () => {
  const counter = globalThis as { bullBoardLoads?: number };
  counter.bullBoardLoads = (counter.bullBoardLoads ?? 0) + 1;
  return jest.requireActual<object>('@bull-board/api');
});
const bullBoardLoads = (): number => (globalThis as { bullBoardLoads?: number }).bullBoardLoads ?? 0;

/** Bull Board at /admin/queues: admins only (bearer, x-api-key, or Basic with the key as password). */
describe('queue board', () => {
  const h = new GatewayHarness();

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);

  const basic = (key: string): Record<string, string> => ({
    authorization: `Basic ${Buffer.from(`admin:${key}`).toString('base64')}`,
  });

  it('has not loaded Bull Board at boot', () => {
    expect(bullBoardLoads()).toBe(0);
  });

  it('asks a browser for the key: 401 with a Basic challenge and the envelope', async () => {
    const res = await h.get('/admin/queues', {});
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    expect(((await res.json()) as ErrorEnvelope).error.code).toBe('invalid_api_key');
  });

  it('refuses a user key with 403, assets and API included', async () => {
    const key = await h.userKey('bob');
    for (const route of ['/admin/queues', '/admin/queues/api/queues', '/admin/queues/static/favicon-32x32.png']) {
      const res = await h.get(route, { authorization: `Bearer ${key}` });
      expect({ route, status: res.status }).toEqual({ route, status: 403 });
      await res.arrayBuffer();
    }
    // Refused before the board is loaded.
    expect(bullBoardLoads()).toBe(0);
  });

  it('shows an admin the page and every queue, with jobs the gateway enqueued', async () => {
    const page = await h.get('/admin/queues', basic(h.adminKey));
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('AI gateway queues');
    // Loaded by this first authorised request, once.
    expect(bullBoardLoads()).toBe(1);
    const asset = await h.get('/admin/queues/static/favicon-32x32.png', basic(h.adminKey));
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toBe('image/png');
    await asset.arrayBuffer();
    // An async job: BullMQ keeps it once completed (a sync job is removed as it completes, ADR 0001).
    const done = await h.post('/api/v1/ai/jobs', { model: 'sim-gpt', prompt: 'for the board' });
    expect(done.status).toBe(202);
    type Board = { queues: { name: string; counts: Record<string, number> }[] };
    const read = async (): Promise<Board> => {
      const res = await h.get('/admin/queues/api/queues?activeQueue=generation&status=completed', {
        'x-api-key': h.adminKey,
      });
      expect(res.status).toBe(200);
      return (await res.json()) as Board;
    };
    const body = await read();
    expect(body.queues.map((q) => q.name)).toEqual(expect.arrayContaining(['generation', 'usage']));
    // Wait for the worker to complete it.
    await waitFor(
      async () => ((await read()).queues.find((q) => q.name === 'generation')?.counts.completed ?? 0) >= 1 || null,
      {
        timeoutMs: 10_000,
      },
    );
  });

  it('may not be framed by another site, and its answers are not stored', async () => {
    for (const route of ['/admin/queues', '/admin/queues/api/queues']) {
      const res = await h.get(route, basic(h.adminKey));
      expect({ route, status: res.status }).toEqual({ route, status: 200 });
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('content-security-policy')).toBe("frame-ancestors 'none'");
      expect(res.headers.get('cache-control')).toBe('no-store');
      await res.arrayBuffer();
    }
    // Its unchanging assets stay cacheable.
    const asset = await h.get('/admin/queues/static/favicon-32x32.png', basic(h.adminKey));
    expect(asset.headers.get('cache-control')).toMatch(/max-age/);
    await asset.arrayBuffer();
  });

  it("refuses a change another site's page sent with the browser's cached credentials", async () => {
    // A body-less POST is a request any page may send across sites without asking (no CORS preflight).
    const send = (site?: string): Promise<Response> =>
      fetch(`${h.url}/admin/queues/api/queues/health/add`, {
        method: 'POST',
        headers: { ...basic(h.adminKey), ...(site === undefined ? {} : { 'sec-fetch-site': site }) },
      });
    for (const site of ['cross-site', 'same-site']) {
      const res = await send(site);
      expect({ site, status: res.status }).toEqual({ site, status: 403 });
      expect(((await res.json()) as ErrorEnvelope).error.code).toBe('permission_denied');
    }
    const counts = async (): Promise<number> => {
      const res = await h.get('/admin/queues/api/queues?activeQueue=health', basic(h.adminKey));
      const body = (await res.json()) as { queues: { name: string; counts: Record<string, number> }[] };
      const health = body.queues.find((q) => q.name === 'health');
      return Object.values(health?.counts ?? {}).reduce((a, b) => a + b, 0);
    };
    const before = await counts();
    // The board's own pages (same-origin) and clients that are not browsers (no Sec-Fetch-Site) still act (no
    // monitor runs here: the health queue holds only these jobs).
    for (const site of ['same-origin', undefined]) {
      const res = await send(site);
      expect({ site, status: res.status }).toEqual({ site, status: 200 });
      await res.arrayBuffer();
    }
    expect(await counts()).toBe(before + 2);
  });

  it('declares the routes, methods and assets of the installed Bull Board', () => {
    const seen: { entry?: AppViewRoute; api?: AppControllerRoute[]; statics?: string } = {};
    const recorder = {
      setQueues: () => recorder,
      setViewsPath: () => recorder,
      setStaticPath: (_route: string, dir: string) => ((seen.statics = dir), recorder),
      setEntryRoute: (route: AppViewRoute) => ((seen.entry = route), recorder),
      setErrorHandler: () => recorder,
      setApiRoutes: (routes: AppControllerRoute[]) => ((seen.api = routes), recorder),
      setUIConfig: () => recorder,
    } as unknown as IServerAdapter;
    const { createBullBoard } = jest.requireActual<typeof import('@bull-board/api')>('@bull-board/api');
    createBullBoard({ queues: [], serverAdapter: recorder });
    expect(seen.entry?.method).toBe('get');
    expect([seen.entry?.route].flat()).toEqual(BOARD_ROUTES.entry);
    const api = (seen.api ?? []).flatMap((r) =>
      [r.method].flat().flatMap((m) => [r.route].flat().map((url) => [m, url])),
    );
    expect(api).toEqual(BOARD_ROUTES.api);
    expect(seen.statics).toBe(path.join(boardUiPath(), 'dist/static'));
  });
});
