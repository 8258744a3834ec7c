import { ErrorCode, GatewayError, NO_LIMITS, type GenerationRequest } from '@aigw/core';
import { AdmissionStore, GovernanceKeys, periodsAt, QuotaCountersStore, type AdmissionInput } from '@aigw/governance';
import { createRedis, RedisErrors, RedisKeys, ShutdownState, type CatalogService } from '@aigw/platform';
import { deleteRedisKeysOf, ReplyEatingRelay, sleep, TEST_REDIS_URL, uniqueId, waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { AdmissionService } from '../../apps/api-gateway/src/admission/admission.service';
import type { QuotaRebuilder } from '../../apps/api-gateway/src/admission/quota-rebuilder';
import { GatewayEnv } from '../../apps/api-gateway/src/config/gateway-env';
import type { AuthContext } from '../../apps/api-gateway/src/http/request-context';

/**
 * When Redis ran the admission script but the gateway got an error instead of its answer (the connection dropped and
 * ioredis gave up on the command after `maxRetriesPerRequest` failed reconnections), the request was answered 503 and
 * its charge (a request, its tokens and its worst-case spend, in the minute, the day and the month) stayed in the
 * counters until they ended: no job settles it. The gateway now undoes it by the request id: the charge is given back
 * when the script ran, and a tombstone keeps the script from charging when it arrives after the undo.
 */
describe('an admission whose answer never came', () => {
  const ns = uniqueId('admit_undo');
  const keys = new GovernanceKeys(ns);
  const relay = new ReplyEatingRelay();
  let direct: Redis;
  let relayed: Redis;
  let service: AdmissionService;

  // One deployment for every model: $1 per 1k prompt tokens, $2 per 1k completion tokens.
  const deployment = { provider: { enabled: true }, model: { enabled: true, promptPer1k: 1, completionPer1k: 2 } };
  const catalog = {
    deployments: () => [deployment],
    servingDeployments: () => [deployment],
  } as unknown as CatalogService;
  const limits = {
    ...NO_LIMITS,
    keyRpm: 100,
    keyTpm: 1_000_000,
    dailyRequestLimit: 1_000,
    dailySpendLimitUsd: 1_000,
    monthlySpendLimitUsd: 10_000,
  };

  beforeAll(async () => {
    await relay.open();
    direct = new Redis(TEST_REDIS_URL);
    // The gateway's own command connection (two retries per request, reconnection, resending what was unanswered).
    relayed = createRedis(relay.url(), `${ns}:cmd`, new RedisErrors());
    await new QuotaCountersStore(direct, keys).markRebuilt(Date.now());
    const env = Object.assign(new GatewayEnv(), { REQUEST_TIMEOUT_MS: 30_000 });
    service = new AdmissionService(
      env,
      relayed,
      new RedisKeys(ns),
      catalog,
      {} as QuotaRebuilder,
      new RedisErrors(),
      new ShutdownState(),
    );
  });

  afterAll(async () => {
    relayed.disconnect();
    await relay.close();
    await deleteRedisKeysOf(direct, ns);
    await direct.quit();
  });

  const caller = (userId: string): AuthContext => ({
    userId,
    apiKeyId: `${userId}-key`,
    role: 'user',
    policy: { tier: 'test', expiresAt: null, allowedModels: null, limits },
  });

  const request = (userId: string, requestId: string): GenerationRequest => ({
    requestId,
    model: 'sim/sim-gpt',
    messages: [{ role: 'user', content: 'hello' }],
    options: { maxTokens: 100 },
    stream: false,
    userId,
    apiKeyId: `${userId}-key`,
    deadlineAt: Date.now() + 30_000,
    receivedAt: Date.now(),
  });

  async function counts(userId: string): Promise<{ minute: number; day: number; spend: number; month: number }> {
    const now = Date.now();
    const p = periodsAt(now);
    const [minute] = await direct.mget(keys.keyRequests(`${userId}-key`, p));
    const usage = await new QuotaCountersStore(direct, keys).read(userId, now);
    return {
      minute: Number(minute ?? 0),
      day: usage.dailyRequests,
      spend: usage.dailySpendUsd,
      month: usage.monthlySpendUsd,
    };
  }

  it('gives back the charge of a script that ran when the caller got an error and answered 503', async () => {
    // Loaded on the relayed connection first: the admission below is one EVALSHA.
    const warm = await service.admit(caller('u'), request('u', uniqueId('warm')));
    expect(warm.reservation).not.toBeNull();
    const before = await counts('u');
    expect(before.day).toBe(1);

    relay.holdReplies = true;
    const admitted = service.admit(caller('u'), request('u', uniqueId('lost'))).then(
      () => null,
      (err: unknown) => err,
    );
    // Redis ran it; its answer is lost with the connection, and no reconnection gets through for a while: ioredis
    // gives up on the command after its retries (100, 200 and 400 ms).
    await waitFor(async () => (await counts('u')).day === 2, { timeoutMs: 5_000 });
    relay.refuse();
    relay.drop();
    const err = await admitted;
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe(ErrorCode.ServiceUnavailable);
    // The network comes back; the request was answered 503, and none of its charge stays.
    await relay.accept();
    await waitFor(async () => (await counts('u')).day === before.day, {
      timeoutMs: 10_000,
      message: `the refused request's charge stayed: ${JSON.stringify(await counts('u'))}`,
    });
    expect(await counts('u')).toEqual(before);
    await sleep(300);
    expect(await counts('u')).toEqual(before);
  }, 30_000);

  describe('the undo', () => {
    const store = (): AdmissionStore => new AdmissionStore(direct, keys);
    const input = (userId: string, requestId: string): AdmissionInput & { requestId: string } => ({
      keyId: `${userId}-key`,
      userId,
      limits,
      tokens: 100,
      reserveUsd: 0.1,
      now: Date.now(),
      receivedAt: Date.now(),
      requestId,
    });

    it('gives a charge back once, however often it is sent', async () => {
      const before = await counts('a');
      const one = input('a', 'req_a');
      expect(await store().admit(one)).toMatchObject({ kind: 'admitted' });
      expect(await store().undo(one)).toBe(true);
      expect(await store().undo(one)).toBe(false);
      expect(await counts('a')).toEqual(before);
      const p = periodsAt(one.now);
      expect(Number(await direct.get(keys.keyTokens('a-key', p)))).toBe(0);
      // The script sent again after that charges nothing and answers that the request was not admitted.
      expect(await store().admit(one)).toEqual({ kind: 'undone' });
      expect(await counts('a')).toEqual(before);
    });

    it('leaves a tombstone when the script has not run: arriving later, it charges nothing', async () => {
      const before = await counts('b');
      const one = input('b', 'req_b');
      expect(await store().undo(one)).toBe(false);
      expect(await store().admit(one)).toEqual({ kind: 'undone' });
      expect(await counts('b')).toEqual(before);
      const ttl = await direct.pttl(keys.admitted('req_b'));
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(75_000);
      // Another request is admitted as ever.
      expect(await store().admit(input('b', 'req_b2'))).toMatchObject({ kind: 'admitted' });
      expect((await counts('b')).day).toBe(before.day + 1);
    });

    it('takes nothing off counters reset since the admission', async () => {
      const one = input('c', 'req_c');
      expect(await store().admit(one)).toMatchObject({ kind: 'admitted' });
      await new QuotaCountersStore(direct, keys).reset('c', Date.now() + 1);
      // Admitted after the reset: these hold their own charges, not the undone request's.
      expect(await store().admit(input('c', 'req_c2'))).toMatchObject({ kind: 'admitted' });
      const held = await counts('c');
      expect(held).toMatchObject({ day: 1, spend: 0.1, month: 0.1 });
      expect(await store().undo(one)).toBe(true);
      // The minute's counters are no quota's: the reset left them, and they give the request back.
      expect(await counts('c')).toEqual({ ...held, minute: held.minute - 1 });
    });
  });
});
