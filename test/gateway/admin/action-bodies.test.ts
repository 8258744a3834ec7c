import { GatewayHarness } from '../support';
import { audit, call, createKey, createUser, errorOf, type KeyBody } from './admin-support';

const P = '/api/v1/ai/admin/providers';
const G = '/api/v1/ai/admin/gateways';

/**
 * The admin actions that take no body (a circuit reset, a quota reset, a test of a saved provider) answer a body with
 * fields as `/toggle` does (400 naming the field), instead of acting as if it were not there: `{"model": "x"}` sent to
 * a circuit reset (where `model` is a query parameter) reset every circuit of the provider, with a 200.
 */
describe('admin API: actions that take no body', () => {
  const h = new GatewayHarness();
  let userId = '';

  beforeAll(async () => {
    await h.start();
    userId = (await createUser(h, 'bodiless')).id;
  }, 60_000);
  afterAll(() => h.stop(), 30_000);

  const actions = (): [string, string][] => [
    ['circuit reset', `${P}/sim/circuit/reset`],
    ['quota reset', `/api/v1/ai/admin/quotas/${userId}/reset`],
    ['provider test', `${P}/sim/test`],
  ];

  it('a field in the body is a 400 naming it, and nothing is done (no audit row)', async () => {
    for (const [name, route] of actions()) {
      const rows = (await audit(h)).length;
      for (const body of [{ reason: 'x' }, { model: 'sim-gpt' }, { enabled: true, note: 1 }]) {
        const res = await call(h, 'POST', route, body);
        const field = Object.keys(body)[0];
        expect([name, field, res.status]).toEqual([name, field, 400]);
        expect(errorOf(res)).toMatchObject({ code: 'invalid_request', type: 'invalid_request_error', param: field });
        expect(errorOf(res).message).toContain(`'${field}'`);
      }
      expect([name, (await audit(h)).length]).toEqual([name, rows]);
    }
  });

  it('a body that is not a JSON object is a 400, as on /toggle', async () => {
    for (const [name, route] of actions()) {
      for (const body of ['[]', '"reset"', '1']) {
        const res = await call(h, 'POST', route, body);
        expect([name, body, res.status]).toEqual([name, body, 400]);
        expect(errorOf(res).code).toBe('invalid_request');
      }
    }
  });

  it('no body, an empty object or null acts as before', async () => {
    for (const body of [undefined, {}, 'null']) {
      const circuit = await call<{ provider: string }>(h, 'POST', `${P}/sim/circuit/reset?model=sim-gpt`, body);
      expect([body, circuit.status, circuit.body.provider]).toEqual([body, 200, 'sim']);
      const quota = await call(h, 'POST', `/api/v1/ai/admin/quotas/${userId}/reset`, body);
      expect([body, quota.status]).toEqual([body, 200]);
    }
    // The action's own answers stay: an unknown provider is a 404 with a body too.
    expect((await call(h, 'POST', `${P}/nowhere/circuit/reset`, {})).status).toBe(404);
  });

  it('the body is looked at after the key: 401 without one, 403 for a user key', async () => {
    const res = await fetch(`${h.url}${P}/sim/circuit/reset`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"reason":"x"}',
    });
    expect(res.status).toBe(401);
    const userKey = await h.userKey('bodiless-user');
    expect((await call(h, 'POST', `${P}/sim/circuit/reset`, { reason: 'x' }, userKey)).status).toBe(403);
  });

  it('/toggle still takes only enabled', async () => {
    const res = await call(h, 'POST', `${P}/sim/toggle`, { enabled: true, reason: 'x' });
    expect([res.status, errorOf(res).param]).toEqual([400, 'reason']);
  });

  /**
   * The DELETEs and a job's cancel take no body either: they ignored one, so `{"model": "x"}` sent to the cache's
   * DELETE (where `model` is a query parameter) emptied the whole cache with a 200, and `{"context": "x"}` sent to
   * `DELETE /preferences` removed the default preference instead.
   */
  describe('DELETEs and a job cancel', () => {
    /** A DELETE (or cancel) refused with a 400 naming `field`: nothing acted on. */
    async function refused(method: string, route: string, body: unknown, field: string, key?: string): Promise<void> {
      const res = await call(h, method, route, body, key);
      expect([method, route, res.status]).toEqual([method, route, 400]);
      expect(errorOf(res)).toMatchObject({ code: 'invalid_request', type: 'invalid_request_error', param: field });
    }

    it('a field in the body is a 400 naming it, before the route looks anything up', async () => {
      const userKey = await h.userKey('bodiless-deletes');
      const routes: [string, string, string?][] = [
        ['DELETE', `${P}/nowhere`],
        ['DELETE', `${P}/nowhere/models/none`],
        ['DELETE', `${G}/nowhere`],
        ['DELETE', '/api/v1/ai/admin/keys/nope'],
        ['DELETE', '/api/v1/ai/admin/cache'],
        ['DELETE', '/api/v1/ai/preferences', userKey],
        ['DELETE', '/api/v1/ai/preferences/coding', userKey],
        ['POST', '/api/v1/ai/jobs/job_nope/cancel', userKey],
      ];
      for (const [method, route, key] of routes) {
        await refused(method, route, { model: 'sim-gpt' }, 'model', key);
        await refused(method, route, { reason: 'x', note: 1 }, 'reason', key);
        const notObject = await call(h, method, route, '[]', key);
        expect([route, notObject.status, errorOf(notObject).code]).toEqual([route, 400, 'invalid_request']);
      }
    });

    it('a refused DELETE deletes nothing; no body, {}, null or an empty body with the JSON type still do', async () => {
      const rows = (await audit(h)).length;
      await refused('DELETE', `${P}/sim-b/models/sim-gpt`, { reason: 'x' }, 'reason');
      await refused('DELETE', `${P}/sim-b`, { reason: 'x' }, 'reason');
      expect((await call(h, 'POST', G, { id: 'bodiless-gw', baseUrl: `${h.sim.url}/v1` })).status).toBe(201);
      await refused('DELETE', `${G}/bodiless-gw`, { reason: 'x' }, 'reason');
      const k = await createKey(h, { userId });
      await refused('DELETE', `/api/v1/ai/admin/keys/${k.id}`, { reason: 'x' }, 'reason');
      expect((await audit(h)).length).toBe(rows + 2); // the gateway's and the key's creation only
      expect((await call<KeyBody>(h, 'GET', `/api/v1/ai/admin/keys?userId=${userId}`)).body).toMatchObject({
        data: [{ id: k.id, revokedAt: null }],
      });

      expect((await call(h, 'DELETE', `${P}/sim-b/models/sim-gpt`, {})).status).toBe(200);
      expect((await call(h, 'DELETE', `${P}/sim-b`, 'null')).status).toBe(200);
      expect((await call(h, 'DELETE', `${G}/bodiless-gw`)).status).toBe(200);
      // Content-Type: application/json with Content-Length: 0, as some clients send on every request.
      expect((await call(h, 'DELETE', `/api/v1/ai/admin/keys/${k.id}`, '')).status).toBe(200);
      for (const body of [undefined, {}, 'null', '']) {
        const cache = await call<{ deleted: number }>(h, 'DELETE', '/api/v1/ai/admin/cache?model=sim-gpt', body);
        expect([body, cache.status, cache.body.deleted]).toEqual([body, 200, 0]);
      }
    });

    it('a job cancel with a field is refused and the job runs on; with {} or no body it is cancelled', async () => {
      h.handle(async (job) => {
        await h.cancelled(job.id ?? '');
        return h.failClientGone(job);
      });
      const userKey = await h.userKey('bodiless-jobs');
      for (const body of [{}, undefined]) {
        const submitted = await h.post('/api/v1/ai/jobs', { prompt: 'cancel me' }, h.headers(userKey));
        const { jobId } = (await submitted.json()) as { jobId: string };
        await refused('POST', `/api/v1/ai/jobs/${jobId}/cancel`, { reason: 'x' }, 'reason', userKey);
        expect(h.cancels.some((c) => c.jobId === jobId)).toBe(false);
        const cancelled = await call<{ status: string }>(h, 'POST', `/api/v1/ai/jobs/${jobId}/cancel`, body, userKey);
        expect([body, cancelled.status, cancelled.body.status]).toEqual([body, 200, 'cancelled']);
      }
      // An unknown job is still the route's own 404.
      expect((await call(h, 'POST', '/api/v1/ai/jobs/job_nope/cancel', {}, userKey)).status).toBe(404);
    });
  });
});
