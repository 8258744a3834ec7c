import { NO_LIMITS } from '@aigw/core';
import { AdmissionStore, GovernanceKeys, periodsAt, QuotaCountersStore, type AdmissionInput } from '@aigw/governance';
import { createRedis, RedisErrors } from '@aigw/platform';
import { uniqueId, waitFor, deleteRedisKeysOf, ReplyEatingRelay, TEST_REDIS_URL } from '@aigw/testing';
import { Redis } from 'ioredis';

/**
 * The gateway admits a request in one script call on its command connection. When that connection drops after Redis
 * ran the script but before its answer came, ioredis sends the script again at the reconnection
 * (`autoResendUnfulfilledCommands`): an unmarked admission then charged the request twice, and the second charge was
 * never settled (settlement takes one reservation off, once), so the user's day and month counted a request and its
 * worst-case spend more until they ended, and the user was refused early. The admission is marked by the request id,
 * so the second run charges nothing and answers as the first did.
 */
describe('an admission sent again after a dropped connection', () => {
  const ns = uniqueId('admit_resent');
  const keys = new GovernanceKeys(ns);
  const relay = new ReplyEatingRelay();
  // Half a minute into the next minute: the window's counters live until its end, after this test.
  const now = (Math.floor(Date.now() / 60_000) + 1) * 60_000 + 30_000;
  let direct: Redis;
  let relayed: Redis;

  beforeAll(async () => {
    await relay.open();
    direct = new Redis(TEST_REDIS_URL);
    // The gateway's own connection settings (retries, reconnection, resending what was unanswered).
    relayed = createRedis(relay.url(), `${ns}:cmd`, new RedisErrors());
    await new QuotaCountersStore(direct, keys).markRebuilt(now);
  });

  afterAll(async () => {
    relayed.disconnect();
    await relay.close();
    await deleteRedisKeysOf(direct, ns);
    await direct.quit();
  });

  const request = (userId: string, requestId: string | undefined, reserveUsd: number): AdmissionInput => {
    // The request id rides in a variable: the store of a release without it takes the input all the same.
    const input = {
      keyId: `${userId}-key`,
      userId,
      limits: { ...NO_LIMITS, keyRpm: 100, keyTpm: 100_000, dailyRequestLimit: 1_000, dailySpendLimitUsd: 5 },
      tokens: 100,
      reserveUsd,
      now,
      requestId,
    };
    return input;
  };

  async function counts(userId: string): Promise<{ minute: number; tokens: number; day: number; spend: number }> {
    const p = periodsAt(now);
    const [minute, tokens] = await direct.mget(
      keys.keyRequests(`${userId}-key`, p),
      keys.keyTokens(`${userId}-key`, p),
    );
    const usage = await new QuotaCountersStore(direct, keys).read(userId, now);
    return {
      minute: Number(minute ?? 0),
      tokens: Number(tokens ?? 0),
      day: usage.dailyRequests,
      spend: usage.dailySpendUsd,
    };
  }

  it('charges the request once and answers the reservation the first run made', async () => {
    const viaRelay = new AdmissionStore(relayed, keys);
    // The script loaded on the relayed connection first: the admission below is one EVALSHA.
    expect(await viaRelay.admit(request('u', 'req_warm', 0.01))).toMatchObject({ kind: 'admitted' });
    expect(await counts('u')).toEqual({ minute: 1, tokens: 100, day: 1, spend: 0.01 });

    relay.holdReplies = true;
    const admitted = viaRelay.admit(request('u', 'req_first', 0.1)).then(
      (verdict) => verdict,
      (err: unknown) => `failed: ${String(err)}`,
    );
    // Redis ran it; its answer is lost with the connection.
    await waitFor(async () => (await counts('u')).day === 2, { timeoutMs: 5_000 });
    relay.drop();
    const verdict = await admitted;
    expect(verdict).toMatchObject({ kind: 'admitted', rate: { limitRequests: 100, remainingRequests: 98 } });
    // The script went again at the reconnection: it charged nothing a second time.
    expect(await counts('u')).toEqual({ minute: 2, tokens: 200, day: 2, spend: 0.11 });

    // Its reservation is the one the first run made: settling it leaves the counters as if it had been sent once.
    if (typeof verdict === 'string' || verdict.kind !== 'admitted' || verdict.reservation === null) {
      throw new Error(`not admitted: ${JSON.stringify(verdict)}`);
    }
    expect(verdict.reservation).toMatchObject({ tokens: 100, nanos: 100_000_000 });
    await new AdmissionStore(direct, keys).settle(verdict.reservation, 40, 0.002, {
      jobId: 'req_first',
      ttlMs: 60_000,
    });
    expect(await counts('u')).toEqual({ minute: 2, tokens: 140, day: 2, spend: 0.012 });
  }, 20_000);

  it('a second run of one request id charges nothing and answers what the first charged', async () => {
    const store = new AdmissionStore(direct, keys);
    const first = await store.admit(request('v', 'req_v', 0.1));
    const again = await store.admit(request('v', 'req_v', 0.1));
    expect(again).toEqual(first);
    expect(await counts('v')).toEqual({ minute: 1, tokens: 100, day: 1, spend: 0.1 });
    // Another request is charged as ever.
    expect(await store.admit(request('v', 'req_w', 0.1))).toMatchObject({ kind: 'admitted' });
    expect(await counts('v')).toEqual({ minute: 2, tokens: 200, day: 2, spend: 0.2 });
  });

  it('a check without a request id (a rate-only read) is charged each time and leaves no marker', async () => {
    const store = new AdmissionStore(direct, keys);
    const read = { ...request('r', undefined, 0), limits: { ...NO_LIMITS, keyRpm: 100 }, tokens: 0 };
    const markers = async (): Promise<number> => (await direct.keys(`${ns}:gov:admitted:*`)).length;
    const before = await markers();
    await store.admit(read);
    await store.admit(read);
    expect((await counts('r')).minute).toBe(2);
    expect(await markers()).toBe(before);
  });
});
