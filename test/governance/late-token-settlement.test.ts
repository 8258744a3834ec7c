import { MINUTE_MS, NO_LIMITS, type CallerLimits } from '@aigw/core';
import { AdmissionStore, GovernanceKeys, periodsAt, type AdmissionInput } from '@aigw/governance';
import type Redis from 'ioredis';
import { connect, deleteKeys, sleep, uniquePrefix } from '../routing/redis';

/**
 * Tokens per minute against a generation that outlives its admission's minute (a long answer without max_tokens, a
 * reasoning model): what it used beyond its reservation counts in the minute it is settled in, or a caller whose
 * requests reserve the default allowance and each generate many times that over several minutes used many times
 * the limit, every minute.
 */
describe('AdmissionStore: a settlement after its admission minute ended', () => {
  const prefix = uniquePrefix();
  const keys = new GovernanceKeys(prefix.slice(0, -1));
  let redis: Redis;
  let store: AdmissionStore;

  beforeAll(() => {
    redis = connect();
    store = new AdmissionStore(redis, keys);
  });
  afterAll(async () => {
    await deleteKeys(redis, prefix);
    await redis.quit();
  });

  const input = (userId: string, limits: Partial<CallerLimits>, extra: Partial<AdmissionInput>): AdmissionInput => ({
    keyId: `${userId}-key`,
    userId,
    limits: { ...NO_LIMITS, ...limits },
    tokens: 1_000,
    reserveUsd: 0,
    now: Date.now(),
    ...extra,
  });

  /** Far enough from the end of the wall clock's minute for a settlement and an admission to share it. */
  async function startOfAMinute(): Promise<number> {
    const left = MINUTE_MS - (Date.now() % MINUTE_MS);
    if (left < 5_000) {
      await sleep(left + 50);
    }
    return Date.now();
  }

  async function reservationAt(userId: string, limits: Partial<CallerLimits>, now: number) {
    const v = await store.admit(input(userId, limits, { now }));
    if (v.kind !== 'admitted' || v.reservation === null) {
      throw new Error(`expected an admission, got ${JSON.stringify(v)}`);
    }
    return v.reservation;
  }

  it('counts the tokens used beyond the reservation in the minute it is settled in, for the key and the user', async () => {
    const limits = { keyTpm: 5_000, userTpm: 8_000 };
    const now = await startOfAMinute();
    // Admitted two minutes ago: its minute's counters are gone (they expire a second after it).
    const reservation = await reservationAt('u-long', limits, now - 2 * MINUTE_MS);
    expect(await redis.exists(...reservation.tokenKeys)).toBe(0);
    // It reserved 1,000 tokens and used 4,500.
    await store.settle(reservation, 4_500, 0);
    const p = periodsAt(Date.now());
    expect(Number(await redis.get(keys.keyTokens('u-long-key', p)))).toBe(3_500);
    expect(Number(await redis.get(keys.userTokens('u-long', p)))).toBe(3_500);
    // The minute's counter expires with the minute, as admission's do.
    const asked = Date.now();
    const ttl = await redis.pttl(keys.keyTokens('u-long-key', p));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(p.windowEndsAt + 1_000 - asked);
    // 3,500 of the key's 5,000 are used this minute: a request of 2,000 waits for the next one.
    expect(await store.admit(input('u-long', limits, { tokens: 2_000 }))).toMatchObject({
      kind: 'refused',
      check: 'key_tpm',
      current: 3_500,
      tooLarge: false,
    });
  });

  it('counts only what it used beyond its reservation after a rebuild too: its own minute held the reservation', async () => {
    const ns = uniquePrefix();
    const rebuiltKeys = new GovernanceKeys(ns.slice(0, -1));
    const rebuiltStore = new AdmissionStore(redis, rebuiltKeys);
    try {
      await redis.set(rebuiltKeys.epoch, '1');
      const now = await startOfAMinute();
      const v = await rebuiltStore.admit(input('u-rebuilt', { keyTpm: 5_000 }, { now: now - 2 * MINUTE_MS }));
      if (v.kind !== 'admitted' || v.reservation === null) {
        throw new Error(`expected an admission, got ${JSON.stringify(v)}`);
      }
      // Redis lost its data since, and the counters were rebuilt (a new epoch).
      await redis.set(rebuiltKeys.epoch, '2');
      await rebuiltStore.settle(v.reservation, 4_500, 0);
      expect(Number(await redis.get(rebuiltKeys.keyTokens('u-rebuilt-key', periodsAt(Date.now()))))).toBe(3_500);
    } finally {
      await deleteKeys(redis, ns);
    }
  });

  it('gives nothing back to the minute it is settled in when it used less than reserved', async () => {
    const now = await startOfAMinute();
    const reservation = await reservationAt('u-short', { keyTpm: 5_000 }, now - 2 * MINUTE_MS);
    await store.settle(reservation, 200, 0);
    expect(await redis.exists(keys.keyTokens('u-short-key', periodsAt(Date.now())))).toBe(0);
  });

  it('settles within its own minute as before: the difference moves that minute only', async () => {
    const now = await startOfAMinute();
    const reservation = await reservationAt('u-same', { keyTpm: 5_000 }, now);
    await store.settle(reservation, 3_000, 0);
    expect(Number(await redis.get(reservation.tokenKeys[0]))).toBe(3_000);
  });
});
