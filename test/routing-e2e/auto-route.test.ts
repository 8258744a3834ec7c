import { Redis } from 'ioredis';
import { BlackHole, freePort } from '@aigw/testing';
import { REDIS_URL } from '../e2e/harness';
import { acrossWorkers, callsTo, catalogYaml, chat, generate, routingSystem } from './support';

/**
 * Provider `zai` is routed `auto`: its direct base URL is a loopback port nobody listens on (connection
 * refused), its gateway is a second simulator standing in for a LiteLLM proxy. Provider `zgw` always goes
 * through the gateway. Provider `zto` is routed `auto` too, its direct base URL a port that never completes a
 * connection (a connect timeout, its catalog timeoutMs).
 */
describe('direct, gateway and auto routes (e2e)', () => {
  let closedPort = 0;
  const hole = new BlackHole();
  const system = routingSystem({
    simulators: 1,
    env: { RETRY_MAX: '2', RETRY_BASE_MS: '50', CB_FAILURE_THRESHOLD: '1000', CB_MIN_VOLUME: '1000' },
    catalog: async (s) => {
      closedPort = await freePort();
      await hole.open();
      return catalogYaml(
        [
          {
            id: 'zai',
            baseUrl: `http://127.0.0.1:${closedPort}/v1`,
            routing: 'auto',
            gateway: 'litellm',
            models: [{ name: 'glm', upstreamName: 'glm-4.6', promptPer1k: 0.001 }],
          },
          {
            id: 'zto',
            baseUrl: `http://127.0.0.1:${hole.port}/v1`,
            routing: 'auto',
            gateway: 'litellm',
            timeoutMs: 300,
            models: [{ name: 'glm-to', upstreamName: 'glm-4.6', promptPer1k: 0.001 }],
          },
          {
            id: 'zgw',
            baseUrl: 'http://127.0.0.1:9/v1',
            routing: 'gateway',
            gateway: 'litellm',
            models: [{ name: 'glm-gw', upstreamName: 'zai/glm-4.6', promptPer1k: 0.001 }],
          },
        ],
        [{ id: 'litellm', baseUrl: `${s.sims[0].url}/v1`, apiKey: 'sk-litellm-secret' }],
      );
    },
  });
  const gatewaySim = () => system.sims[0];

  beforeAll(async () => {
    await system.start();
  }, 90_000);

  afterAll(async () => {
    hole.close();
    await system.stop();
  }, 30_000);

  it('auto: direct refused, the gateway answers, and the route that worked is remembered in Redis', async () => {
    const res = await generate(system, { model: 'zai/glm' });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-gateway-route')).toBe('gateway');
    expect(res.body.attempts).toEqual([
      expect.objectContaining({ provider: 'zai', route: 'direct', ok: false, errorClass: 'network', retries: 0 }),
      expect.objectContaining({ provider: 'zai', route: 'gateway', ok: true, retries: 0 }),
    ]);
    // The proxy got the upstream name, as its model list knows it.
    expect(gatewaySim().lastRequests(1)[0]).toMatchObject({ hadAuth: true, body: { model: 'glm-4.6' } });
    const redis = new Redis(REDIS_URL);
    try {
      expect(await redis.get(`${system.prefix}:routing:route:zai`)).toBe('gateway');
      expect(await redis.pttl(`${system.prefix}:routing:route:zai`)).toBeGreaterThan(23 * 60 * 60 * 1000);
    } finally {
      await redis.quit();
    }
  }, 30_000);

  it('auto: the next requests, on either worker, go to the gateway first', async () => {
    gatewaySim().reset();
    const answers = await acrossWorkers(system, 10, 3, () => chat(system, { model: 'zai/glm' }));
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect(a.headers.get('x-gateway-route')).toBe('gateway');
      expect(a.headers.get('x-gateway-attempts')).toBe('1');
    }
    expect(callsTo(gatewaySim())).toBe(answers.length);
  }, 30_000);

  it('gateway: always through the proxy, with the mapped model name', async () => {
    gatewaySim().reset();
    const res = await generate(system, { model: 'zgw/glm-gw' });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-gateway-route')).toBe('gateway');
    expect(res.body.attempts).toEqual([expect.objectContaining({ provider: 'zgw', route: 'gateway', ok: true })]);
    expect(gatewaySim().lastRequests(1)[0]).toMatchObject({ body: { model: 'zai/glm-4.6' } });
    expect(JSON.stringify(res.body)).not.toContain('secret');
  }, 30_000);

  it('auto: direct refused and the gateway route out of room is 503 all_providers_overloaded, not a 502', async () => {
    // Direct first again (the memory forgotten): the refused connection says nothing of a retry's chances, the
    // proxy's 529 does, and the SDKs retry the 503 it makes (a 502 tells them not to).
    const redis = new Redis(REDIS_URL);
    try {
      await redis.del(`${system.prefix}:routing:route:zai`);
    } finally {
      await redis.quit();
    }
    gatewaySim().configure({ failRate: 1, failStatus: [529], retryAfterS: null });
    try {
      const res = await chat(system, { model: 'zai/glm' });
      expect(res.status).toBe(503);
      expect(res.headers.get('x-should-retry')).toBe('true');
      expect(res.headers.get('retry-after')).toBe('1');
      expect(res.body.error).toMatchObject({ code: 'all_providers_overloaded', type: 'service_unavailable_error' });
      expect(res.body.error?.attempts).toEqual([
        expect.objectContaining({ provider: 'zai', route: 'direct', ok: false, errorClass: 'network' }),
        expect.objectContaining({ provider: 'zai', route: 'gateway', ok: false, errorClass: 'provider', status: 529 }),
      ]);
    } finally {
      gatewaySim().configure({ failRate: 0 });
    }
  }, 30_000);

  it('auto: a direct connect timeout and the gateway route out of room is 503 all_providers_overloaded, not a 502', async () => {
    // A connection never made says as little of a retry's chances as one refused: the proxy's 529 decides.
    gatewaySim().configure({ failRate: 1, failStatus: [529], retryAfterS: null });
    try {
      const res = await chat(system, { model: 'zto/glm-to' });
      expect(res.status).toBe(503);
      expect(res.headers.get('x-should-retry')).toBe('true');
      expect(res.headers.get('retry-after')).toBe('1');
      expect(res.body.error).toMatchObject({ code: 'all_providers_overloaded', type: 'service_unavailable_error' });
      expect(res.body.error?.attempts).toEqual([
        expect.objectContaining({ provider: 'zto', route: 'direct', ok: false, errorClass: 'timeout' }),
        expect.objectContaining({ provider: 'zto', route: 'gateway', ok: false, errorClass: 'provider', status: 529 }),
      ]);
      expect(res.body.error?.attempts?.[0]?.message).toContain('UND_ERR_CONNECT_TIMEOUT');
    } finally {
      gatewaySim().configure({ failRate: 0 });
    }
  }, 30_000);
});
