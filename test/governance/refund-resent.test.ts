import { NO_LIMITS, type Reservation } from '@aigw/core';
import { AdmissionStore, GovernanceKeys, QuotaCountersStore } from '@aigw/governance';
import { createRedis, RedisErrors } from '@aigw/platform';
import { uniqueId, waitFor, deleteRedisKeysOf, ReplyEatingRelay, TEST_REDIS_URL } from '@aigw/testing';
import { Redis } from 'ioredis';

/**
 * The gateway gives back reservations of requests that have no job (a cache hit, a coalesced follower, a request never
 * queued) in one script call on its command connection. When that connection drops after Redis ran the script but
 * before its answer came, the client sends the script again at the reconnection: an unmarked refund was then applied
 * twice, and the user's spend counter lost another request's reservation (a budget overrun by one reservation each
 * time). The refund is marked by the request id, so the second run gives nothing back.
 */
describe('a refund sent again after a dropped connection', () => {
  const ns = uniqueId('refund_resent');
  const keys = new GovernanceKeys(ns);
  const relay = new ReplyEatingRelay();
  let direct: Redis;
  let relayed: Redis;

  beforeAll(async () => {
    await relay.open();
    direct = new Redis(TEST_REDIS_URL);
    // The gateway's own connection settings (retries, reconnection, resending what was unanswered).
    relayed = createRedis(relay.url(), `${ns}:cmd`, new RedisErrors());
    await new QuotaCountersStore(direct, keys).markRebuilt(Date.now());
  });

  afterAll(async () => {
    relayed.disconnect();
    await relay.close();
    await deleteRedisKeysOf(direct, ns);
    await direct.quit();
  });

  async function reserve(store: AdmissionStore, usd: number): Promise<Reservation> {
    const verdict = await store.admit({
      keyId: 'k',
      userId: 'u',
      limits: { ...NO_LIMITS, dailySpendLimitUsd: 5 },
      tokens: 1,
      reserveUsd: usd,
      now: Date.now(),
    });
    if (verdict.kind !== 'admitted' || verdict.reservation === null) {
      throw new Error(`not admitted: ${verdict.kind}`);
    }
    return verdict.reservation;
  }

  it('gives the reservation back once', async () => {
    const counters = new QuotaCountersStore(direct, keys);
    const spend = async (): Promise<number> => (await counters.read('u', Date.now())).dailySpendUsd;
    const store = new AdmissionStore(direct, keys);
    const viaRelay = new AdmissionStore(relayed, keys);
    const first = await reserve(store, 0.1);
    await reserve(store, 0.5);
    // The scripts loaded on the relayed connection first: the refund below is one EVALSHA.
    await viaRelay.refund(await reserve(store, 0.01), 'req_warm');
    expect(await spend()).toBeCloseTo(0.6, 9);

    relay.holdReplies = true;
    const refunded = viaRelay.refund(first, 'req_first').then(
      () => 'answered',
      (err: unknown) => `failed: ${String(err)}`,
    );
    // Redis ran it; its answer is lost with the connection.
    await waitFor(async () => Math.abs((await spend()) - 0.5) < 1e-9, { timeoutMs: 5_000 });
    relay.drop();
    expect(await refunded).toBe('answered');
    // The script went again at the reconnection: it gave nothing back a second time.
    expect(await spend()).toBeCloseTo(0.5, 9);
  }, 20_000);
});
