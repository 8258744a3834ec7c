import { GatewayHarness } from '../support';
import { audit, call, createUser, errorOf } from './admin-support';

const P = '/api/v1/ai/admin/providers';

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
});
