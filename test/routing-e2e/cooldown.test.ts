import { openMonitor, waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { REDIS_URL } from '../e2e/harness';
import {
  acrossWorkers,
  callsTo,
  catalogYaml,
  chat,
  counterSum,
  metricsOf,
  routingSystem,
  type Answer,
} from './support';

const THRESHOLD = 2;

/**
 * A provider's Retry-After on a 429 (or a 503/529) is honoured across requests and workers: the deployment is set
 * aside for that long (a cooldown kept in its circuit's hash, read and written by the commands the breaker already
 * sends), routing tries the others, and a request that only it could serve is answered without calling it. It was
 * honoured within one request only: the next requests called the rate-limited provider again at once, and after
 * CB_FAILURE_THRESHOLD such answers the breaker opened for CB_OPEN_MS whatever wait the provider had asked for.
 *
 * Simulators: A (pa, cheaper, tried first) and B (pb) serve `shared`; C (pc) alone serves `solo`.
 */
describe('provider cooldowns (e2e)', () => {
  const system = routingSystem({
    simulators: 3,
    env: {
      ROUTING_DEFAULT_POLICY: 'cost',
      RETRY_MAX: '0',
      CB_FAILURE_THRESHOLD: String(THRESHOLD),
      CB_MIN_VOLUME: '1000',
    },
    catalog: (s) =>
      catalogYaml([
        { id: 'pa', baseUrl: `${s.sims[0].url}/v1`, models: [{ name: 'shared', promptPer1k: 0.001 }] },
        { id: 'pb', baseUrl: `${s.sims[1].url}/v1`, models: [{ name: 'shared', promptPer1k: 0.002 }] },
        { id: 'pc', baseUrl: `${s.sims[2].url}/v1`, models: [{ name: 'solo', promptPer1k: 0.001 }] },
      ]),
  });
  const simA = () => system.sims[0];
  const simB = () => system.sims[1];
  const simC = () => system.sims[2];
  const ask = (): Promise<Answer> => chat(system, { model: 'shared' });

  async function transitions(deployment: string, from: string, to: string): Promise<number> {
    const texts = await Promise.all(system.workers().map((w) => metricsOf(w)));
    return texts.reduce((sum, t) => sum + counterSum(t, 'aigw_circuit_transitions_total', { deployment, from, to }), 0);
  }

  beforeAll(async () => {
    await system.start();
  }, 90_000);

  afterAll(() => system.stop(), 30_000);

  it('a rate limit with Retry-After never opens the breaker, however many come', async () => {
    simA().configure({ failRate: 1, failStatus: [429], retryAfterS: 1 });
    simA().reset();
    simB().reset();
    // Each request falls back to B; A is called again only once its last wait is over, THRESHOLD + 1 times in all.
    const answers: Answer[] = [];
    await waitFor(
      async () => {
        answers.push(await ask());
        return callsTo(simA()) > THRESHOLD;
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    expect(answers.map((a) => [a.status, a.headers.get('x-gateway-provider')])).toEqual(answers.map(() => [200, 'pb']));
    // Far fewer calls than requests: between its waits A was left out.
    expect(answers.length).toBeGreaterThan(callsTo(simA()));
    expect(await transitions('pa/shared', 'closed', 'open')).toBe(0);
  }, 30_000);

  it('sets the deployment aside for the wait it asked for, on every worker: no request calls it meanwhile', async () => {
    simA().configure({ failRate: 1, failStatus: [429], retryAfterS: 30 });
    // The last test's cooldown (1 s) may still run: wait until A is called again.
    const before = callsTo(simA());
    await waitFor(
      async () => {
        await ask();
        return callsTo(simA()) > before;
      },
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    const calledOnce = callsTo(simA());
    // Both worker processes serve requests now, and neither calls A.
    const answers = await acrossWorkers(system, 10, 2, () => ask());
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
    expect(answers.map((a) => a.headers.get('x-gateway-provider'))).toEqual(answers.map(() => 'pb'));
    // B first: the plan already left A out, no call to it was tried and failed.
    expect(answers.map((a) => a.headers.get('x-gateway-attempts'))).toEqual(answers.map(() => '1'));
    expect(callsTo(simA())).toBe(calledOnce);
    expect(await transitions('pa/shared', 'closed', 'open')).toBe(0);
  }, 60_000);

  it('answers a request only the cooling deployment serves with a 429 and the rest of the wait, without calling it', async () => {
    const calls = callsTo(simA());
    const res = await chat(system, { model: 'pa/shared' });
    expect(res.status).toBe(429);
    expect(res.body.error).toMatchObject({ code: 'provider_rate_limited', type: 'rate_limit_error' });
    const retryAfter = Number(res.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(30);
    expect(res.headers.get('x-should-retry')).not.toBe('false');
    expect(callsTo(simA())).toBe(calls);
  }, 30_000);

  it('shows the cooldown, not an open circuit: models and preferences APIs, admin providers list, worker gauge; the reset ends it', async () => {
    // A is still cooling (the 30 s wait of the tests above), its circuit closed.
    const listed = async () => {
      const res = await fetch(`${system.gatewayUrl}/api/v1/ai/models`, { headers: system.headers() });
      const list = (await res.json()) as { data: Record<string, unknown>[] };
      return list.data.find((d) => d.id === 'pa/shared');
    };
    const item = await listed();
    expect(item).toMatchObject({ available: false, unavailableReason: 'cooldown' });
    const until = Date.parse(String(item?.cooldownUntil));
    expect(until).toBeGreaterThan(Date.now());
    expect(until).toBeLessThanOrEqual(Date.now() + 30_000 + 1000);
    expect((await listed())?.unavailableReason).toBe('cooldown');
    const put = await fetch(`${system.gatewayUrl}/api/v1/ai/preferences`, {
      method: 'PUT',
      headers: { ...system.headers(), 'content-type': 'application/json' },
      body: JSON.stringify({ provider: 'pa', model: 'shared' }),
    });
    expect(put.status).toBe(409);
    const { error } = (await put.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe('model_unavailable');
    expect(error.message).toContain('its provider asked for a wait');
    expect(error.message).toContain(`until ${String(item?.cooldownUntil)}`);
    expect(error.message).not.toContain('circuit breaker is open');
    const providers = async () => {
      const res = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/providers`, { headers: system.headers() });
      const list = (await res.json()) as { data: { id: string; circuits: Record<string, unknown>[] }[] };
      return list.data.find((p) => p.id === 'pa')?.circuits.find((c) => c.id === 'pa/shared');
    };
    expect(await providers()).toEqual({ id: 'pa/shared', state: 'closed', cooldownUntil: item?.cooldownUntil });
    // Every worker's gauge tells what is left of the wait; its circuit state stays 0 (closed).
    for (const worker of system.workers()) {
      const text = await metricsOf(worker);
      const left = counterSum(text, 'aigw_circuit_cooldown_seconds', { deployment: 'pa/shared' });
      expect(left).toBeGreaterThan(0);
      expect(left).toBeLessThanOrEqual(30);
      expect(counterSum(text, 'aigw_circuit_cooldown_seconds', { deployment: 'pb/shared' })).toBe(0);
      expect(counterSum(text, 'aigw_circuit_state', { deployment: 'pa/shared' })).toBe(0);
    }
    // The admin reset ends the cooldown too: A is listed available and called again at once.
    const reset = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/providers/pa/circuit/reset`, {
      method: 'POST',
      headers: system.headers(),
    });
    expect(reset.status).toBe(200);
    expect(await providers()).toEqual({ id: 'pa/shared', state: 'closed', cooldownUntil: null });
    await waitFor(async () => (await listed())?.available === true, { timeoutMs: 5000, intervalMs: 100 });
    expect(await listed()).toMatchObject({ unavailableReason: null, cooldownUntil: null });
    simA().configure({ failRate: 0 });
    const calls = callsTo(simA());
    const res = await chat(system, { model: 'pa/shared' });
    expect(res.status).toBe(200);
    expect(callsTo(simA())).toBe(calls + 1);
  }, 30_000);

  it('a 503 with Retry-After: 503 all_providers_overloaded meanwhile, and the deployment is called again after it', async () => {
    simC().configure({ failNext: 1, failStatus: [503], retryAfterS: 2 });
    simC().reset();
    const first = await chat(system, { model: 'solo' });
    expect(first.status).toBe(503);
    expect(callsTo(simC())).toBe(1);
    const meanwhile = await chat(system, { model: 'solo' });
    expect(meanwhile.status).toBe(503);
    expect(meanwhile.body.error).toMatchObject({ code: 'all_providers_overloaded' });
    expect(Number(meanwhile.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(meanwhile.headers.get('retry-after'))).toBeLessThanOrEqual(2);
    expect(callsTo(simC())).toBe(1);
    // Once the wait is over C is called again, and answers.
    await waitFor(async () => (await chat(system, { model: 'solo' })).status === 200, {
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    expect(callsTo(simC())).toBe(2);
    expect(await transitions('pc/solo', 'closed', 'open')).toBe(0);
  }, 30_000);

  it('an async job that only a cooling deployment serves waits the cooldown out and is answered: nobody retries it', async () => {
    simC().configure({ failNext: 1, failStatus: [503], retryAfterS: 2 });
    simC().reset();
    expect((await chat(system, { model: 'solo' })).status).toBe(503);
    // A synchronous request meanwhile is answered 503 at once (its client retries after the Retry-After); an async
    // job's client only polls, and a failed job stays failed: the job waits the 2 s out, then calls C.
    const submitted = await fetch(`${system.gatewayUrl}/api/v1/ai/jobs`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model: 'solo', prompt: 'hello after the wait' }),
    });
    expect(submitted.status).toBe(202);
    const { jobId } = (await submitted.json()) as { jobId: string };
    const view = await waitFor(
      async () => {
        const res = await fetch(`${system.gatewayUrl}/api/v1/ai/jobs/${jobId}`, { headers: system.headers() });
        const job = (await res.json()) as { status: string; error?: unknown };
        return job.status === 'completed' || job.status === 'failed' ? job : null;
      },
      { timeoutMs: 15_000, intervalMs: 100, message: 'the job did not end' },
    );
    expect(view).toMatchObject({ status: 'completed' });
    expect(callsTo(simC())).toBe(2);
  }, 30_000);

  it("costs no Redis command more: the cooldown rides on the failure's script call and the plan's HMGET", async () => {
    // Everything the system sends that touches A's circuit (its hash or probe set), watched with MONITOR.
    const reset = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/providers/pa/circuit/reset`, {
      method: 'POST',
      headers: system.headers(),
    });
    expect(reset.status).toBe(200);
    simA().configure({ failRate: 1, failStatus: [429], retryAfterS: 30 });
    const client = new Redis(REDIS_URL, { lazyConnect: true });
    await client.connect();
    const monitor = await openMonitor(client);
    let seen: string[] = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      // What a script runs inside Redis is logged too, with the source `lua`: not a command sent.
      if (source !== 'lua' && args.some((a) => a.includes(system.prefix) && a.includes('cb:{pa/shared}'))) {
        seen.push(args[0].toLowerCase());
      }
    });
    try {
      // Both workers' reads of A's circuit (the plan's, or the one sent ahead with the job fetch) are HMGETs.
      const onlyReads = (cmds: string[]): boolean => cmds.every((c) => c === 'hmget');
      const limited = await ask();
      expect(limited.headers.get('x-gateway-attempts')).toBe('2');
      // A's 429: one script call, as its failure was before (the cooldown is written by it, not beside it).
      await waitFor(() => seen.some((c) => c === 'evalsha' || c === 'eval'), { timeoutMs: 5_000 });
      expect(seen.filter((c) => !onlyReads([c]))).toEqual([seen.includes('eval') ? 'eval' : 'evalsha']);
      seen = [];
      // A request while A cools: its plan reads A's circuit with the same HMGET as any request, and that is all.
      const aside = await ask();
      expect(aside.headers.get('x-gateway-provider')).toBe('pb');
      expect(aside.headers.get('x-gateway-attempts')).toBe('1');
      expect(onlyReads(seen)).toBe(true);
    } finally {
      monitor.disconnect();
      await client.quit();
    }
  }, 30_000);
});
