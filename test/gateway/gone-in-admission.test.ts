import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApiKeyStore } from '@aigw/entities';
import { GovernanceKeys, QuotaCountersStore } from '@aigw/governance';
import { sleep, waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { gatewayBehind, relayToTestRedis, stopBehind } from './named-stall-relay';
import { chat, type GatewayHarness, REDIS_URL } from './support';

/**
 * A client that leaves while its request is held in admission (the command connection silent while the admission
 * script is on its way): before, the gateway noticed only once the job was queued, so it added the job and then
 * cancelled it, and a worker could take it first. Now it looks right before the add: no job is added, the reservation
 * is given back, and the Idempotency-Key claim or the coalescing lead the request held is released.
 */
describe.each([
  ['an Idempotency-Key claim', {}, true],
  ['a coalescing lead', { CACHE_ENABLED: 'true' }, false],
])('api-gateway: a client gone during admission, holding %s', (_what, env, keyed) => {
  const relay = relayToTestRedis();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-gone-admission-'));
  const tiersFile = path.join(dir, 'tiers.yaml');
  writeFileSync(tiersFile, 'tiers:\n  default: { dailySpendLimitUsd: 1000 }\n');
  let h: GatewayHarness;
  let probe: Redis;

  beforeAll(async () => {
    h = await gatewayBehind(relay, { ...env, TIERS_FILE: tiersFile, REQUEST_TIMEOUT_MS: '15000' });
    probe = new Redis(REDIS_URL);
  }, 60_000);

  afterAll(async () => {
    await probe?.quit();
    await stopBehind(relay, h);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('adds no job, gives the reservation back and releases what it held', async () => {
    const { key, userId } = await h.app.get(ApiKeyStore).create({ userName: `gone-${keyed}`, role: 'user' });
    // A job that reached the stand-in worker runs until it is cancelled, as a real worker's would.
    h.handle(async (job) => {
      await h.cancelled(job.id ?? '');
      return h.failClientGone(job);
    });
    const extra: Record<string, string> = keyed ? { 'idempotency-key': `gone-${Date.now()}` } : {};
    const content = `gone in admission ${Date.now()}`;
    const client = new AbortController();
    relay.silenceAt(`${h.prefix}:cmd`, 'evalsha');
    const sent = h.post('/v1/chat/completions', chat(content), h.headers(key, extra), client.signal).catch(() => null);
    await waitFor(() => relay.holding, { timeoutMs: 10_000, message: 'the admission script never went out' });
    client.abort();
    await sent;
    // The gateway sees the close while the admission is still held.
    await sleep(300);
    relay.cut();

    // The admission ran once the network was back, and the request ended as its client's leaving.
    await waitFor(
      async () =>
        /^aigw_requests_total\{[^}]*status="client_closed_request"[^}]*\} 1$/m.test(
          await h.get('/metrics').then((r) => r.text()),
        ),
      { timeoutMs: 10_000, message: 'the request never ended' },
    );
    await sleep(1_000);
    const events = await probe.xrange(`{${h.prefix}}:generation:events`, '-', '+');
    expect(events.filter(([, fields]) => fields.includes('added'))).toEqual([]);
    expect(await h.queue.getJobCounts()).toMatchObject({ waiting: 0, active: 0, delayed: 0, prioritized: 0 });
    expect(h.jobsSeen).toEqual([]);
    expect(h.cancels).toEqual([]);
    // Its spend reservation was given back (a job taken by a worker is settled by that worker instead).
    const counters = new QuotaCountersStore(probe, new GovernanceKeys(h.prefix));
    expect((await counters.read(userId, Date.now())).dailySpendUsd).toBe(0);
    expect(await probe.keys(`${h.prefix}:inflight:*`)).toEqual([]);

    // What it held is free: the same request (its key) runs afresh, neither a replay nor a follower.
    h.handle((job) => h.answer(job, 'fresh'));
    const again = await h.post('/v1/chat/completions', chat(content), h.headers(key, extra));
    expect(again.status).toBe(200);
    expect(again.headers.get('x-gateway-idempotent-replay')).toBeNull();
    expect(again.headers.get('x-gateway-coalesced')).toBeNull();
  }, 60_000);
});
