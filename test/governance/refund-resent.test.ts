import { NO_LIMITS, type Reservation } from '@aigw/core';
import { AdmissionStore, GovernanceKeys, QuotaCountersStore, REFUND_MARK_MS } from '@aigw/governance';
import { createRedis, RedisErrors } from '@aigw/platform';
import { uniqueId, waitFor, deleteRedisKeysOf, ReplyEatingRelay, TEST_REDIS_URL } from '@aigw/testing';
import { Redis } from 'ioredis';

/**
 * The gateway gives back reservations of requests that have no job (a cache hit, a coalesced follower, a request never
 * queued) in one script call on its command connection. When that connection drops after Redis ran the script but
 * before its answer came, the client sends the script again at the reconnection: an unmarked refund was then applied
 * twice, and the user's spend counter lost another request's reservation (a budget overrun by one reservation each
 * time). The refund is marked by the request id, so the second run gives nothing back.
 *
 * The marker (REFUND_MARK_MS) works as long as it lives. ioredis holds an unanswered command until a reconnection is
 * ready, and `maxRetriesPerRequest` never gives up on it while the reconnections connect (a half-open network behind a
 * proxy, a Redis still loading): it is held for as long as that lasts, and sent again past its marker's life. The
 * refund was then applied twice: another request's reservation taken off the user's spend. A marked script is no
 * longer sent once its marker may have expired: the refund is given up (the reservation stays charged, never
 * under-counted).
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

  afterEach(() => jest.restoreAllMocks());

  afterAll(async () => {
    relayed.disconnect();
    await relay.close();
    await deleteRedisKeysOf(direct, ns);
    await direct.quit();
  });

  async function reserve(store: AdmissionStore, usd: number, userId = 'u'): Promise<Reservation> {
    const verdict = await store.admit({
      keyId: 'k',
      userId,
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

  it('is not sent again once its marker may have expired: given back once', async () => {
    const counters = new QuotaCountersStore(direct, keys);
    const spend = async (): Promise<number> => (await counters.read('u_late', Date.now())).dailySpendUsd;
    const store = new AdmissionStore(direct, keys);
    const viaRelay = new AdmissionStore(relayed, keys);
    const first = await reserve(store, 0.1, 'u_late');
    await reserve(store, 0.5, 'u_late');
    // The scripts loaded on the relayed connection first: the refund below is one EVALSHA.
    await viaRelay.refund(await reserve(store, 0.01, 'u_late'), 'req_warm_late');
    expect(await spend()).toBeCloseTo(0.6, 9);

    relay.holdReplies = true;
    const refunded = viaRelay.refund(first, 'req_first_late').then(
      () => 'answered',
      () => 'given up',
    );
    // Redis ran it; its answer is lost with the connection.
    await waitFor(async () => Math.abs((await spend()) - 0.5) < 1e-9, { timeoutMs: 5_000 });
    // The connection drops; the reconnection connects, but its ready check is never answered: the refund is held.
    relay.drop();
    relay.holdReplies = true;
    await waitFor(async () => Promise.resolve(relayed.status === 'connect'), { timeoutMs: 5_000, intervalMs: 5 });
    // Longer than the marker lives: its expiry (the marker is deleted here, the clock moved on), then the network back.
    await direct.del(keys.settled('req_first_late'));
    const now = Date.now();
    jest.spyOn(Date, 'now').mockImplementation(() => now + REFUND_MARK_MS + 1_000);
    relay.drop();
    expect(await refunded).toBe('given up');
    // Given back once: the other request's reservation is still counted.
    expect(await spend()).toBeCloseTo(0.5, 9);
  }, 20_000);
});
