import { ApiKeyStore, createDataSourceOptions } from '@aigw/entities';
import { waitFor, type ProviderSimulator } from '@aigw/testing';
import { DataSource } from 'typeorm';
import { DATABASE_URL } from '../e2e/harness';
import {
  acrossWorkers,
  callsTo,
  catalogYaml,
  chat,
  counterSum,
  metricsOf,
  pooled,
  routingSystem,
  type Answer,
} from './support';

const THRESHOLD = 3;
/**
 * Several steps below rely on A's circuit staying open (not yet due for probes) from one step to the next; on a
 * busy host a few requests can take seconds, so the window has ample margin, and `expectOpenThroughout` checks
 * that it did not lapse rather than letting a lapse show up as a wrong call count.
 */
const OPEN_MS = 8000;
const PROBES = 2;
/** A's latency while the half-open probes are in flight: the other requests are decided well within it. */
const PROBE_LATENCY_MS = 3000;

/**
 * Simulator A fails every call, B is healthy; A is cheaper, so the cost policy tries it first. The breaker
 * state lives in Redis and is shared by the two worker processes.
 */
describe('circuit breaker across two workers (e2e)', () => {
  const system = routingSystem({
    simulators: 3,
    env: {
      ROUTING_DEFAULT_POLICY: 'cost',
      RETRY_MAX: '0',
      CB_FAILURE_THRESHOLD: String(THRESHOLD),
      CB_OPEN_MS: String(OPEN_MS),
      CB_HALF_OPEN_PROBES: String(PROBES),
      // Only consecutive failures open it here: the rate rule is covered by the unit tests.
      CB_MIN_VOLUME: '1000',
    },
    catalog: (s) =>
      catalogYaml(
        [
          { id: 'pa', baseUrl: `${s.sims[0].url}/v1`, models: [{ name: 'shared', promptPer1k: 0.001 }] },
          { id: 'pb', baseUrl: `${s.sims[1].url}/v1`, models: [{ name: 'shared', promptPer1k: 0.002 }] },
          // Called through a gateway (simulator C); a model of its own, so no other test routes to it.
          {
            id: 'pg',
            baseUrl: 'http://127.0.0.1:9/v1',
            routing: 'gateway',
            gateway: 'gw',
            models: [{ name: 'solo', promptPer1k: 0.001 }],
          },
        ],
        [{ id: 'gw', baseUrl: `${s.sims[2].url}/v1`, apiKey: 'sk-gw-secret' }],
      ),
  });
  const simA = () => system.sims[0];
  const simB = () => system.sims[1];
  const ask = (): Promise<Answer> => chat(system, { model: 'shared' });

  /** Circuit state of A as a worker exports it: 0 closed, 1 half-open (or open and due), 2 open. */
  async function gaugeOfA(): Promise<number> {
    return counterSum(await metricsOf(system.workers()[0]), 'aigw_circuit_state', { deployment: 'pa/shared' });
  }

  async function transitions(from: string, to: string): Promise<number> {
    const texts = await Promise.all(system.workers().map((w) => metricsOf(w)));
    return texts.reduce(
      (sum, t) => sum + counterSum(t, 'aigw_circuit_transitions_total', { deployment: 'pa/shared', from, to }),
      0,
    );
  }

  /**
   * The precondition of the steps that expect A not to be called: its circuit was open and not yet due the whole
   * time since `lapsesBefore` was read (no open -> half_open transition, and the gauge still says open).
   */
  async function expectOpenThroughout(step: string, lapsesBefore: number): Promise<void> {
    const gauge = await gaugeOfA();
    const lapses = await transitions('open', 'half_open');
    if (gauge !== 2 || lapses !== lapsesBefore) {
      throw new Error(
        `precondition of "${step}" broken: A's circuit left 'open' (gauge ${gauge}, open->half_open ` +
          `${lapsesBefore} -> ${lapses}); the host took longer than CB_OPEN_MS=${OPEN_MS} ms for this step`,
      );
    }
  }

  beforeAll(async () => {
    await system.start();
  }, 90_000);

  afterAll(() => system.stop(), 30_000);

  it('answers every request through B while A fails; A opens after exactly the threshold', async () => {
    simA().configure({ failRate: 1, failStatus: [503] });
    simA().reset();
    simB().reset();
    const answers: Answer[] = [];
    // One at a time, so "calls reaching A" is exact.
    for (let i = 0; i < THRESHOLD + 3; i++) {
      answers.push(await ask());
    }
    await expectOpenThroughout('A not tried once open', 0);
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
    expect(answers.map((a) => a.headers.get('x-gateway-provider'))).toEqual(answers.map(() => 'pb'));
    // The first THRESHOLD requests tried A, then fell back to B; after that A was not even tried.
    expect(answers.map((a) => a.headers.get('x-gateway-attempts'))).toEqual([
      ...Array<string>(THRESHOLD).fill('2'),
      ...Array<string>(3).fill('1'),
    ]);
    expect(callsTo(simA())).toBe(THRESHOLD);
    expect(callsTo(simB())).toBe(THRESHOLD + 3);
    expect(await gaugeOfA()).toBe(2);
    expect(await transitions('closed', 'open')).toBe(1);
  }, 30_000);

  it('shares the open circuit: neither worker calls A while it is open', async () => {
    // Both processes serve requests in this window, and not one call reaches A.
    const answers = await acrossWorkers(system, 20, 4, () => ask());
    await expectOpenThroughout('shared open circuit', 0);
    expect(answers.every((a) => a.status === 200 && a.headers.get('x-gateway-provider') === 'pb')).toBe(true);
    expect(callsTo(simA())).toBe(THRESHOLD);
  }, 30_000);

  it('fails fast with 503 no_healthy_provider and Retry-After when every candidate is open', async () => {
    const pinned = await chat(system, { model: 'pa/shared' });
    await expectOpenThroughout('fails fast', 0);
    expect(pinned.status).toBe(503);
    expect(pinned.body.error).toMatchObject({ code: 'no_healthy_provider', type: 'service_unavailable_error' });
    const retryAfter = Number(pinned.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(Math.ceil(OPEN_MS / 1000));
    expect(callsTo(simA())).toBe(THRESHOLD);
  }, 30_000);

  it('half-open lets exactly the allowed probes through; their failure re-opens the circuit', async () => {
    // Slow failures keep the probes in flight while the other requests arrive.
    simA().configure({ latencyMs: PROBE_LATENCY_MS });
    await waitFor(async () => (await gaugeOfA()) === 1, { timeoutMs: OPEN_MS + 10_000, intervalMs: 50 });
    const probes = Array.from({ length: PROBES }, () => ask());
    // Every probe slot taken (both requests are at A), then the others arrive while the probes are still there.
    await waitFor(() => simA().stats().inFlight === PROBES, {
      timeoutMs: PROBE_LATENCY_MS,
      intervalMs: 20,
      message: 'the probes were not in flight at A together',
    });
    const others = await Promise.all(Array.from({ length: 6 }, () => ask()));
    // Precondition: the others were decided while the probes were in flight (half-open with its slots full).
    expect(simA().stats().inFlight).toBe(PROBES);
    const answers = [...(await Promise.all(probes)), ...others];
    expect(answers.every((a) => a.status === 200 && a.headers.get('x-gateway-provider') === 'pb')).toBe(true);
    expect(callsTo(simA())).toBe(THRESHOLD + PROBES);
    expect(await transitions('open', 'half_open')).toBe(1);
    expect(await transitions('half_open', 'open')).toBe(1);
    expect(await gaugeOfA()).toBe(2);
  }, 60_000);

  it('recovers: a successful probe closes the circuit and A takes the traffic again', async () => {
    simA().configure({ failRate: 0, latencyMs: 0 });
    await waitFor(async () => (await gaugeOfA()) === 1, { timeoutMs: OPEN_MS + 10_000, intervalMs: 50 });
    const probe = await ask();
    expect(probe.status).toBe(200);
    expect(probe.headers.get('x-gateway-provider')).toBe('pa');
    expect(await transitions('half_open', 'closed')).toBe(1);
    expect(await gaugeOfA()).toBe(0);
    const next = await pooled(Array.from({ length: 6 }), 3, () => ask());
    expect(next.map((a) => a.headers.get('x-gateway-provider'))).toEqual(next.map(() => 'pa'));
    expect(callsTo(simA())).toBe(THRESHOLD + PROBES + 1 + 6);
  }, 60_000);

  it('admin circuit reset closes an open circuit at once, is audited, and is refused to non-admins', async () => {
    simA().configure({ failRate: 1, failStatus: [503], latencyMs: 0 });
    for (let i = 0; i < THRESHOLD; i++) {
      await ask();
    }
    expect(await gaugeOfA()).toBe(2);
    const lapses = await transitions('open', 'half_open');
    simA().configure({ failRate: 0 });
    const resetUrl = `${system.gatewayUrl}/api/v1/ai/admin/providers/pa/circuit/reset`;

    const userKey = await createUserKey(system);
    const refused = await fetch(resetUrl, { method: 'POST', headers: system.headers(userKey) });
    expect(refused.status).toBe(403);
    // Still open, so the reset below is what closes it.
    await expectOpenThroughout('refused reset', lapses);

    const unknown = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/providers/nope/circuit/reset`, {
      method: 'POST',
      headers: system.headers(),
    });
    expect(unknown.status).toBe(404);

    const res = await fetch(resetUrl, { method: 'POST', headers: system.headers() });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      provider: 'pa',
      deployments: [{ id: 'pa/shared', previousState: 'open', state: 'closed' }],
    });
    // Closed now, long before CB_OPEN_MS would have let a probe through.
    const pinned = await chat(system, { model: 'pa/shared' });
    expect(pinned.status).toBe(200);
    expect(pinned.headers.get('x-gateway-provider')).toBe('pa');
    const audit = await system.query<{ action: string; target: string; actor: string; detail: unknown }>(
      "SELECT action, target, actor, detail FROM audit_log WHERE action = 'circuit.reset'",
    );
    // The same entry shape as every other admin change: who (key id and visible prefix), before and after.
    expect(audit).toEqual([
      {
        action: 'circuit.reset',
        target: 'pa',
        actor: expect.stringMatching(/^api-key:[0-9a-f-]{36}:\S+$/) as unknown,
        detail: {
          before: { deployments: [{ id: 'pa/shared', state: 'open' }] },
          after: { deployments: [{ id: 'pa/shared', state: 'closed' }] },
        },
      },
    ]);
  }, 30_000);

  it('an admin change to how a provider is called closes its open circuit at once; other edits leave it open', async () => {
    const admin = (method: string, path: string, body: unknown): Promise<Response> =>
      fetch(`${system.gatewayUrl}/api/v1/ai/admin/${path}`, {
        method,
        headers: system.headers(),
        body: JSON.stringify(body),
      });
    const lastReset = async (): Promise<unknown> =>
      (
        await system.query<{ detail: unknown }>(
          "SELECT detail FROM audit_log WHERE action = 'circuit.reset' ORDER BY id DESC LIMIT 1",
        )
      )[0]?.detail;
    const openBy = async (model: string, sim: ProviderSimulator): Promise<void> => {
      sim.configure({ failRate: 1, failStatus: [503], latencyMs: 0 });
      for (let i = 0; i < THRESHOLD; i++) {
        await chat(system, { model });
      }
      sim.configure({ failRate: 0 });
      // Open: a pinned request fails fast, without calling A.
      expect((await chat(system, { model })).body).toMatchObject({ error: { code: 'no_healthy_provider' } });
    };

    await openBy('pa/shared', simA());
    const lapses = await transitions('open', 'half_open');
    // A label is not how it is called: the circuit stays open.
    expect((await admin('PATCH', 'providers/pa', { displayName: 'Provider A' })).status).toBe(200);
    const afterLabel = await chat(system, { model: 'pa/shared' });
    await expectOpenThroughout('label edit', lapses);
    expect(afterLabel.status).toBe(503);
    const resets = await system.query<{ n: string }>(
      "SELECT count(*) AS n FROM audit_log WHERE action = 'circuit.reset'",
    );

    // A rotated key is: the next request is served by A, long before CB_OPEN_MS, and the close is audited.
    expect((await admin('PATCH', 'providers/pa', { apiKey: 'sk-pa-rotated' })).status).toBe(200);
    const served = await chat(system, { model: 'pa/shared' });
    expect(served.status).toBe(200);
    expect(served.headers.get('x-gateway-provider')).toBe('pa');
    expect(await lastReset()).toEqual({
      before: { deployments: [{ id: 'pa/shared', state: 'open' }] },
      after: { deployments: [{ id: 'pa/shared', state: 'closed' }], cause: 'provider.update' },
    });

    // So is the key of the gateway a provider is called through.
    await openBy('pg/solo', system.sims[2]);
    expect((await admin('PATCH', 'gateways/gw', { apiKey: 'sk-gw-rotated' })).status).toBe(200);
    expect((await chat(system, { model: 'pg/solo' })).status).toBe(200);
    expect(await lastReset()).toEqual({
      before: { deployments: [{ id: 'pg/solo', state: 'open' }] },
      after: { deployments: [{ id: 'pg/solo', state: 'closed' }], cause: 'gateway.update' },
    });
    const after = await system.query<{ n: string }>(
      "SELECT count(*) AS n FROM audit_log WHERE action = 'circuit.reset'",
    );
    expect(Number(after[0].n)).toBe(Number(resets[0].n) + 2);
  }, 30_000);
});

/** A `user`-role key, made the way an operator would (the keys CLI's store). */
async function createUserKey(system: { schema: string }): Promise<string> {
  const ds = await new DataSource(createDataSourceOptions({ url: DATABASE_URL, schema: system.schema })).initialize();
  try {
    const created = await new ApiKeyStore(ds).create({ userName: `user-${Date.now()}`, role: 'user' });
    return created.key;
  } finally {
    await ds.destroy();
  }
}
