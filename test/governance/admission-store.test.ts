import { NO_LIMITS, type CallerLimits, type Reservation } from '@aigw/core';
import { AdmissionStore, GovernanceKeys, periodsAt, QuotaCountersStore, type AdmissionInput } from '@aigw/governance';
import { RedisErrors, RedisKeys, type MigratedDatabase } from '@aigw/platform';
import type Redis from 'ioredis';
import { QuotaRebuilder } from '../../apps/api-gateway/src/admission/quota-rebuilder';
import { connect, deleteKeys, uniquePrefix } from '../routing/redis';

/** The admission and settlement scripts against the real Redis, several connections standing in for replicas. */
describe('AdmissionStore', () => {
  const prefix = uniquePrefix();
  const ns = prefix.slice(0, -1);
  const keys = new GovernanceKeys(ns);
  const conns: Redis[] = [connect(), connect(), connect()];
  const stores = conns.map((c) => new AdmissionStore(c, keys));
  const counters = new QuotaCountersStore(conns[0], keys);
  // Half a minute into the next minute of the real clock: the scripts expire each window's keys at its end (from
  // `now`), so a fixed date would see them expire at once once the wall clock has passed it.
  const now = (Math.floor(Date.now() / 60_000) + 1) * 60_000 + 30_000;
  const endOfUtcDay = (Math.floor(now / 86_400_000) + 1) * 86_400_000;
  const endOfUtcMonth = periodsAt(now).monthEndsAt;

  beforeAll(() => counters.markRebuilt(now));
  afterAll(async () => {
    await deleteKeys(conns[0], prefix);
    await Promise.all(conns.map((c) => c.quit()));
  });

  const input = (
    userId: string,
    limits: Partial<CallerLimits>,
    extra: Partial<AdmissionInput> = {},
  ): AdmissionInput => ({
    keyId: `${userId}-key`,
    userId,
    limits: { ...NO_LIMITS, ...limits },
    tokens: 100,
    reserveUsd: 0.01,
    now,
    ...extra,
  });

  it('never reserves spend past the limit under concurrent admissions from several connections', async () => {
    const req = input('u-budget', { dailySpendLimitUsd: 0.1 });
    const verdicts = await Promise.all(Array.from({ length: 60 }, (_, i) => stores[i % stores.length].admit(req)));
    const admitted = verdicts.filter((v) => v.kind === 'admitted');
    expect(admitted).toHaveLength(10);
    const refused = verdicts.filter((v) => v.kind === 'refused');
    expect(refused).toHaveLength(50);
    expect(refused[0]).toMatchObject({ kind: 'refused', check: 'daily_spend', limit: 100_000_000 });
    // Refused until the end of the UTC day.
    expect(refused[0].kind === 'refused' && refused[0].retryAfterMs).toBe(endOfUtcDay - now);
    expect(await counters.read('u-budget', now)).toMatchObject({ dailySpendUsd: 0.1 });
  });

  it('reserves audio and file parts only as far as a limit leaves: never too large for them, refused while it is used up', async () => {
    // 120,000 tokens asked, 100,000 of them a PDF's estimate, against 50,000 a minute (key) and 80,000 (user).
    const pdf = { tokens: 120_000, reserveUsd: 1.2, media: { tokens: 100_000, reserveUsd: 1 } };
    const req = input('u-media', { keyTpm: 50_000, userTpm: 80_000, dailySpendLimitUsd: 1 }, pdf);
    const first = await stores[0].admit(req);
    if (first.kind !== 'admitted' || first.reservation === null) {
      throw new Error(`expected an admission, got ${JSON.stringify(first)}`);
    }
    // The tightest limit's room for tokens, the budget's for spend: one amount for every counter of its kind.
    expect(first.reservation).toMatchObject({ tokens: 50_000, nanos: 1_000_000_000 });
    expect(first.rate).toMatchObject({ limitTokens: 50_000, remainingTokens: 0 });
    // Used up: the next one is refused until the minute (the day) resets, not for good.
    const second = await stores[1].admit(req);
    expect(second).toMatchObject({ kind: 'refused', check: 'daily_spend', tooLarge: false });
    // Settled to the provider's count: the room comes back.
    await stores[2].settle(first.reservation, 30_000, 0.3);
    const third = await stores[1].admit(req);
    if (third.kind !== 'admitted' || third.reservation === null) {
      throw new Error(`expected an admission, got ${JSON.stringify(third)}`);
    }
    expect(third.reservation).toMatchObject({ tokens: 20_000, nanos: 700_000_000 });
    // The rest alone (20,000 tokens) larger than a limit is too large for good, whatever the files.
    const tooLarge = await stores[0].admit(input('u-media-2', { keyTpm: 10_000 }, pdf));
    expect(tooLarge).toMatchObject({ kind: 'refused', check: 'key_tpm', tooLarge: true });
    // Without media, a request asking more than the limit is too large, as before.
    const text = await stores[0].admit(input('u-media-3', { keyTpm: 50_000 }, { tokens: 120_000 }));
    expect(text).toMatchObject({ kind: 'refused', check: 'key_tpm', tooLarge: true });
  });

  it('settles a reservation to the real cost and refunds a failed request entirely', async () => {
    const req = input('u-settle', { dailySpendLimitUsd: 1, monthlySpendLimitUsd: 5, keyTpm: 10_000 });
    const a = await stores[0].admit(req);
    const b = await stores[1].admit(req);
    if (a.kind !== 'admitted' || b.kind !== 'admitted' || !a.reservation || !b.reservation) {
      throw new Error('expected two reservations');
    }
    expect(a.reservation).toMatchObject({ tokens: 100, nanos: 10_000_000 });
    expect(await counters.read('u-settle', now)).toMatchObject({ dailySpendUsd: 0.02, monthlySpendUsd: 0.02 });
    await stores[2].settle(a.reservation, 40, 0.0025);
    await stores[2].settle(b.reservation, 0, 0);
    expect(await counters.read('u-settle', now)).toMatchObject({ dailySpendUsd: 0.0025, monthlySpendUsd: 0.0025 });
    const tokens = await conns[0].get(a.reservation.tokenKeys[0]);
    expect(Number(tokens)).toBe(40);
  });

  it('settles a cost above its reservation: the next request sees it, in spend and in tokens per minute', async () => {
    // A provider that billed more than the worst case reserved (a prompt the tokenizer under-counted).
    const req = input('u-over', { dailySpendLimitUsd: 0.05, monthlySpendLimitUsd: 0.05, keyTpm: 1_000 });
    const a = await stores[0].admit(req);
    if (a.kind !== 'admitted' || a.reservation === null) {
      throw new Error(`expected an admission, got ${JSON.stringify(a)}`);
    }
    await stores[1].settle(a.reservation, 950, 0.045);
    expect(await counters.read('u-over', now)).toMatchObject({ dailySpendUsd: 0.045, monthlySpendUsd: 0.045 });
    expect(Number(await conns[0].get(a.reservation.tokenKeys[0]))).toBe(950);
    // 0.045 + 0.01 > 0.05 and 950 + 100 > 1,000: refused until they reset, not for good; nothing charged.
    const next = await stores[2].admit(req);
    expect(next).toMatchObject({ kind: 'refused', check: 'monthly_spend', tooLarge: false });
    expect(await stores[2].admit(input('u-over', { keyTpm: 1_000 }))).toMatchObject({
      kind: 'refused',
      check: 'key_tpm',
      tooLarge: false,
    });
    // What is left fits a smaller request.
    const small = await stores[0].admit(input('u-over', { dailySpendLimitUsd: 0.05 }, { reserveUsd: 0.004 }));
    expect(small).toMatchObject({ kind: 'admitted' });
    expect(await counters.read('u-over', now)).toMatchObject({ dailySpendUsd: 0.049 });
  });

  it('sums many tiny costs exactly: a request costing a fraction of a micro-dollar is not counted as a whole one', async () => {
    // 50 requests of a cheap model (an embedding, a small local model): $0.00000025 each, $0.0000125 in all.
    const req = input('u-tiny', { dailySpendLimitUsd: 1 }, { reserveUsd: 0.0000003 });
    for (let i = 0; i < 50; i++) {
      const v = await stores[i % stores.length].admit(req);
      if (v.kind !== 'admitted' || !v.reservation) {
        throw new Error('expected a reservation');
      }
      await stores[(i + 1) % stores.length].settle(v.reservation, 10, 0.00000025);
    }
    const counted = await counters.read('u-tiny', now);
    expect(counted.dailySpendUsd).toBeCloseTo(0.0000125, 12);
  });

  it('settles a micro-dollar reservation of the previous release (a job queued across the upgrade) in its own unit', async () => {
    const legacyKey = `${ns}:gov:q:u-legacy:d:${periodsAt(now).day}:s`;
    await conns[0].set(legacyKey, 5_000, 'PX', 60_000);
    const legacy = { tokenKeys: [], tokens: 0, spendKeys: [legacyKey], micros: 5_000 } as unknown as Reservation;
    await stores[0].settle(legacy, 10, 0.0012345);
    expect(Number(await conns[0].get(legacyKey))).toBe(1_235);
  });

  it('settles a job once: a run taking it over after its worker died settles nothing a second time', async () => {
    const req = input('u-once', { dailySpendLimitUsd: 1 });
    const a = await stores[0].admit(req);
    if (a.kind !== 'admitted' || !a.reservation) {
      throw new Error('expected a reservation');
    }
    const once = { jobId: `job-once-${Date.now()}`, ttlMs: 60_000 };
    await stores[1].settle(a.reservation, 40, 0.0025, once);
    expect(await counters.read('u-once', now)).toMatchObject({ dailySpendUsd: 0.0025 });
    // The re-run settles the same reservation again (its own, cheaper, answer): nothing moves.
    await stores[2].settle(a.reservation, 10, 0.001, once);
    expect(await counters.read('u-once', now)).toMatchObject({ dailySpendUsd: 0.0025 });
    expect(await conns[0].pttl(keys.settled(once.jobId))).toBeGreaterThan(50_000);
  });

  it('raising the counters to usage_records keeps the reservations of running requests (a limit changed mid-flight)', async () => {
    const req = input('u-raise', { dailySpendLimitUsd: 1, dailyRequestLimit: 100 });
    const running = await stores[0].admit(req);
    if (running.kind !== 'admitted' || !running.reservation) {
      throw new Error('expected a reservation');
    }
    expect(await counters.read('u-raise', now)).toMatchObject({ dailySpendUsd: 0.01, dailyRequests: 1 });
    const recorded = (daily: number, requests: number) => ({
      userId: 'u-raise',
      dailyRequests: requests,
      dailySpendUsd: daily,
      monthlyRequests: requests,
      monthlySpendUsd: daily,
    });
    // usage_records behind the live counters (the running request is not in them): nothing is lowered.
    await counters.raise([recorded(0, 0)], now);
    expect(await counters.read('u-raise', now)).toMatchObject({ dailySpendUsd: 0.01, dailyRequests: 1 });
    // Spent before the limit existed: counted.
    await counters.raise([recorded(0.5, 7)], now);
    expect(await counters.read('u-raise', now)).toMatchObject({ dailySpendUsd: 0.5, dailyRequests: 7 });
    for (const key of [
      keys.daySpend('u-raise', periodsAt(now).day),
      keys.monthSpend('u-raise', periodsAt(now).month),
    ]) {
      expect(await conns[0].pttl(key)).toBeGreaterThan(0);
    }
  });

  it('an admin reset with requests running: their settlement leaves the counters started over alone', async () => {
    const req = input('u-reset', { dailySpendLimitUsd: 1, monthlySpendLimitUsd: 5 });
    const admitted = async (store: AdmissionStore): Promise<Reservation> => {
      const v = await store.admit(req);
      if (v.kind !== 'admitted' || !v.reservation) {
        throw new Error('expected a reservation');
      }
      return v.reservation;
    };
    const before = await admitted(stores[0]);
    await counters.reset('u-reset', now);
    const after = await admitted(stores[1]);
    expect(await counters.read('u-reset', now)).toMatchObject({ dailySpendUsd: 0.01, monthlySpendUsd: 0.01 });
    // What the request received before the reset costs no longer counts (usage_records date it when it was received),
    // and the reservation of the one admitted after stays.
    await stores[2].settle(before, 40, 0.0025, undefined, now - 1_000);
    expect(await counters.read('u-reset', now)).toMatchObject({ dailySpendUsd: 0.01, monthlySpendUsd: 0.01 });
    await stores[2].settle(after, 40, 0.002, undefined, now + 1);
    expect(await counters.read('u-reset', now)).toMatchObject({ dailySpendUsd: 0.002, monthlySpendUsd: 0.002 });
  });

  it('a request straddling a reset counts by when it was received, as its usage record does', async () => {
    const req = input('u-straddle', { dailySpendLimitUsd: 1 });
    const admitted = async (): Promise<Reservation> => {
      const v = await stores[0].admit(req);
      if (v.kind !== 'admitted' || !v.reservation) {
        throw new Error('expected a reservation');
      }
      return v.reservation;
    };
    // Received just after the reset's time, admitted before the counters were zeroed: its cost counts.
    const early = await admitted();
    await counters.reset('u-straddle', now);
    await stores[1].settle(early, 40, 0.0025, undefined, now + 1);
    expect(await counters.read('u-straddle', now)).toMatchObject({ dailySpendUsd: 0.0025 });
    // Received just before the reset's time, admitted after the counters were zeroed: its reservation is given back
    // whole, and its cost does not count.
    const late = await admitted();
    expect(await counters.read('u-straddle', now)).toMatchObject({ dailySpendUsd: 0.0125 });
    await stores[1].settle(late, 40, 0.003, undefined, now - 1);
    expect(await counters.read('u-straddle', now)).toMatchObject({ dailySpendUsd: 0.0025 });
  });

  it('after Redis lost its data and the counters were rebuilt, a request admitted before adds its usage', async () => {
    const req = input('u-rebuilt', { dailySpendLimitUsd: 1, keyTpm: 10_000 });
    const before = await stores[0].admit(req);
    if (before.kind !== 'admitted' || !before.reservation) {
      throw new Error('expected a reservation');
    }
    // The data loss, then the rebuild from usage_records (which the running request is not in yet), then a request
    // of the new counters.
    const spend = keys.daySpend('u-rebuilt', periodsAt(now).day);
    await conns[0].del(spend, ...before.reservation.tokenKeys);
    await counters.write(
      [{ userId: 'u-rebuilt', dailyRequests: 3, dailySpendUsd: 0.02, monthlyRequests: 3, monthlySpendUsd: 0.02 }],
      now,
    );
    await counters.markRebuilt(now + 1);
    const after = await stores[1].admit(req);
    if (after.kind !== 'admitted' || !after.reservation) {
      throw new Error('expected a reservation');
    }
    expect(await counters.read('u-rebuilt', now)).toMatchObject({ dailySpendUsd: 0.03 });
    await stores[2].settle(before.reservation, 40, 0.0025);
    expect(await counters.read('u-rebuilt', now)).toMatchObject({ dailySpendUsd: 0.0325 });
    expect(Number(await conns[0].get(after.reservation.tokenKeys[0]))).toBe(140);
    await counters.markRebuilt(now);
  });

  it('a second replica that also saw the counters lost rebuilds nothing once the first has: settlement keeps its token counters', async () => {
    const twiceNs = `${ns}-twice`;
    const twiceKeys = new GovernanceKeys(twiceNs);
    const store = new AdmissionStore(conns[0], twiceKeys);
    // usage_records and user_quotas as the rebuild reads them: empty (no PostgreSQL needed to show the second rebuild).
    const dataSource = {
      query: () => Promise.resolve([]),
      getMetadata: () => ({ tableName: 't' }),
      driver: { escape: (name: string) => name },
    };
    const db = { dataSource } as unknown as MigratedDatabase;
    const errors = new RedisErrors({ warn: () => undefined, log: () => undefined }, { inc: () => undefined });
    const [a, b] = [0, 1].map((i) => new QuotaRebuilder(conns[i], new RedisKeys(twiceNs), db, errors));
    const clock = jest.spyOn(Date, 'now').mockReturnValue(now);
    try {
      // Both replicas were asked to rebuild; A takes the lock first and rebuilds.
      await a.trigger();
      const epoch = await conns[0].get(twiceKeys.epoch);
      expect(epoch).not.toBeNull();
      const v = await store.admit(input('u-twice', { dailySpendLimitUsd: 1, keyTpm: 10_000 }));
      if (v.kind !== 'admitted' || !v.reservation) {
        throw new Error('expected a reservation');
      }
      // B takes the lock after A released it: the counters are already rebuilt, it must leave them (and the epoch).
      clock.mockReturnValue(now + 5);
      await b.trigger();
      await store.settle(v.reservation, 40, 0.0025);
      // The request's 40 tokens, not its 100 reserved plus 40 (a false 429 for the rest of the minute).
      expect(Number(await conns[0].get(v.reservation.tokenKeys[0]))).toBe(40);
      expect(await conns[0].get(twiceKeys.epoch)).toBe(epoch);
      expect(await new QuotaCountersStore(conns[0], twiceKeys).read('u-twice', now)).toMatchObject({
        dailySpendUsd: 0.0025,
      });
    } finally {
      clock.mockRestore();
      await deleteKeys(conns[0], `${twiceNs}:`);
    }
  });

  it('after Redis lost its data, a request received before an admin reset adds nothing: the rebuild restores the reset time', async () => {
    const req = input('u-lost-reset', { dailySpendLimitUsd: 1 });
    const before = await stores[0].admit(req);
    if (before.kind !== 'admitted' || !before.reservation) {
      throw new Error('expected a reservation');
    }
    // The admin reset (user_quotas and Redis), then the data loss, then the rebuild from usage_records and
    // user_quotas: the request received before the reset is not in the usage counted since.
    await counters.reset('u-lost-reset', now);
    await conns[0].del(keys.daySpend('u-lost-reset', periodsAt(now).day), keys.quotaResets('u-lost-reset'));
    await counters.write(
      [{ userId: 'u-lost-reset', dailyRequests: 1, dailySpendUsd: 0.02, monthlyRequests: 1, monthlySpendUsd: 0.02 }],
      now,
      [{ userId: 'u-lost-reset', resetAt: now }],
    );
    await counters.markRebuilt(now + 1);
    try {
      expect(await conns[0].get(keys.quotaResets('u-lost-reset'))).toBe(String(now));
      await stores[1].settle(before.reservation, 40, 0.0025, undefined, now - 1_000);
      expect(await counters.read('u-lost-reset', now)).toMatchObject({ dailySpendUsd: 0.02 });
    } finally {
      await counters.markRebuilt(now);
    }
  });

  it('a rebuild keeps a reset time later than the one it read (an admin reset made while it ran)', async () => {
    // The rebuild read user_quotas before the reset at `now`; its write must not put the older time back.
    await counters.reset('u-reset-during-rebuild', now);
    await counters.write([], now, [{ userId: 'u-reset-during-rebuild', resetAt: now - 60_000 }]);
    expect(await conns[0].get(keys.quotaResets('u-reset-during-rebuild'))).toBe(String(now));
    // And a later one than Redis holds is written.
    await counters.write([], now, [{ userId: 'u-reset-during-rebuild', resetAt: now + 1 }]);
    expect(await conns[0].get(keys.quotaResets('u-reset-during-rebuild'))).toBe(String(now + 1));
  });

  it("an admin reset the day after a request's admission leaves its day's counter to settle as usual", async () => {
    // Admitted at 23:59:30 of a day, reset (and settled) the next day: the reset zeroed the next day's counter, not
    // the one that holds the reservation.
    const late = endOfUtcDay + 86_400_000 - 30_000;
    const req = input('u-midnight', { dailySpendLimitUsd: 1 }, { now: late });
    const v = await stores[0].admit(req);
    if (v.kind !== 'admitted' || !v.reservation) {
      throw new Error('expected a reservation');
    }
    await counters.reset('u-midnight', late + 60_000);
    await stores[1].settle(v.reservation, 40, 0.0025, undefined, late);
    expect(await counters.read('u-midnight', late)).toMatchObject({ dailySpendUsd: 0.0025 });
    expect(await counters.read('u-midnight', late + 60_000)).toMatchObject({ dailySpendUsd: 0 });
  });

  it('counts a request received before midnight and admitted after it in the day and month of its usage record', async () => {
    // Received 5 ms before a month's end (its usage record's created_at), admitted 5 ms after: the counters a
    // rebuild from usage_records would make hold it in the old day and month, so admission must charge those.
    const monthEnd = periodsAt(endOfUtcMonth + 1).monthEndsAt;
    const limits = { dailyRequestLimit: 1, dailySpendLimitUsd: 1, monthlyRequestLimit: 100, monthlySpendLimitUsd: 10 };
    const v = await stores[0].admit(
      input('u-receipt', limits, { now: monthEnd + 5, receivedAt: monthEnd - 5, reserveUsd: 0.5 }),
    );
    if (v.kind !== 'admitted' || !v.reservation) {
      throw new Error('expected a reservation');
    }
    expect(await counters.read('u-receipt', monthEnd - 5)).toEqual({
      dailyRequests: 1,
      dailySpendUsd: 0.5,
      monthlyRequests: 1,
      monthlySpendUsd: 0.5,
    });
    expect(await counters.read('u-receipt', monthEnd + 5)).toEqual({
      dailyRequests: 0,
      dailySpendUsd: 0,
      monthlyRequests: 0,
      monthlySpendUsd: 0,
    });
    await stores[1].settle(v.reservation, 40, 0.002, undefined, monthEnd - 5);
    expect(await counters.read('u-receipt', monthEnd - 5)).toMatchObject({
      dailySpendUsd: 0.002,
      monthlySpendUsd: 0.002,
    });
    // The old day's limit is used up: a second request received in it is refused, and may retry at once (its day is
    // over); one received after midnight counts in the new day.
    const refused = await stores[0].admit(input('u-receipt', limits, { now: monthEnd + 6, receivedAt: monthEnd - 4 }));
    expect(refused).toMatchObject({ kind: 'refused', check: 'daily_requests', retryAfterMs: 0 });
    const next = await stores[0].admit(input('u-receipt', limits, { now: monthEnd + 7, receivedAt: monthEnd + 6 }));
    expect(next.kind).toBe('admitted');
  });

  it('holds requests per minute for the key and for the user (all keys together), with the header view', async () => {
    const first = await stores[0].admit(input('u-rate', { keyRpm: 3, userRpm: 4 }));
    expect(first).toMatchObject({ kind: 'admitted', rate: { limitRequests: 3, remainingRequests: 2 } });
    await stores[1].admit(input('u-rate', { keyRpm: 3, userRpm: 4 }));
    await stores[2].admit(input('u-rate', { keyRpm: 3, userRpm: 4 }));
    const fourth = await stores[0].admit(input('u-rate', { keyRpm: 3, userRpm: 4 }));
    expect(fourth).toMatchObject({ kind: 'refused', check: 'key_rpm', limit: 3 });
    expect(fourth.kind === 'refused' && fourth.retryAfterMs).toBe(30_000);
    // Another key of the same user has one request left under the user's limit.
    const other = { keyId: 'u-rate-key2' };
    expect(await stores[1].admit(input('u-rate', { keyRpm: 3, userRpm: 4 }, other))).toMatchObject({
      kind: 'admitted',
    });
    expect(await stores[1].admit(input('u-rate', { keyRpm: 3, userRpm: 4 }, other))).toMatchObject({
      kind: 'refused',
      check: 'user_rpm',
    });
    // The next minute starts afresh.
    expect(await stores[0].admit(input('u-rate', { keyRpm: 3, userRpm: 4 }, { now: now + 60_000 }))).toMatchObject({
      kind: 'admitted',
    });
  });

  it('shows on a 429 what is left of the other rate dimension, and nothing of the one that refused', async () => {
    const limits = { keyRpm: 1, keyTpm: 1000 };
    expect(await stores[0].admit(input('u-view', limits, { tokens: 300 }))).toMatchObject({
      rate: { remainingRequests: 0, remainingTokens: 700 },
    });
    expect(await stores[1].admit(input('u-view', limits, { tokens: 300 }))).toMatchObject({
      kind: 'refused',
      check: 'key_rpm',
      rate: { limitRequests: 1, remainingRequests: 0, limitTokens: 1000, remainingTokens: 700 },
    });
  });

  it("shows the binding limit of key and user: the user's when it leaves less", async () => {
    const limits = { keyRpm: 100, userRpm: 3, keyTpm: 10_000, userTpm: 5_000 };
    expect(await stores[0].admit(input('u-bind', limits, { tokens: 300 }))).toMatchObject({
      rate: { limitRequests: 3, remainingRequests: 2, limitTokens: 5_000, remainingTokens: 4_700 },
    });
    // Another key of the user has used nothing of its own limits: the user's still bind.
    expect(await stores[1].admit(input('u-bind', limits, { keyId: 'u-bind-key2', tokens: 300 }))).toMatchObject({
      rate: { limitRequests: 3, remainingRequests: 1, limitTokens: 5_000, remainingTokens: 4_400 },
    });
  });

  it('tells a request larger than a limit itself from one that must wait, and charges neither', async () => {
    const big = await stores[0].admit(input('u-big', { keyTpm: 1000 }, { tokens: 1500 }));
    expect(big).toMatchObject({ kind: 'refused', check: 'key_tpm', tooLarge: true, rate: { remainingTokens: 1000 } });
    const dear = await stores[0].admit(input('u-big', { dailySpendLimitUsd: 0.005 }, { reserveUsd: 0.01 }));
    expect(dear).toMatchObject({ kind: 'refused', check: 'daily_spend', tooLarge: true });
    expect(await stores[0].admit(input('u-big', { keyTpm: 1000 }, { tokens: 800 }))).toMatchObject({
      kind: 'admitted',
    });
    expect(await stores[0].admit(input('u-big', { keyTpm: 1000 }, { tokens: 800 }))).toMatchObject({
      kind: 'refused',
      tooLarge: false,
      rate: { remainingTokens: 0 },
    });
  });

  it('refuses a request whose token estimate does not fit the minute', async () => {
    const v = await stores[0].admit(input('u-tokens', { keyTpm: 1000 }, { tokens: 600 }));
    expect(v.kind).toBe('admitted');
    expect(await stores[0].admit(input('u-tokens', { keyTpm: 1000 }, { tokens: 600 }))).toMatchObject({
      kind: 'refused',
      check: 'key_tpm',
      current: 600,
    });
  });

  it('asks for a rebuild when quotas apply and the counters were lost, and not for rate limits alone', async () => {
    const lostNs = `${ns}-lost`;
    const lost = new AdmissionStore(conns[0], new GovernanceKeys(lostNs));
    expect(await lost.admit(input('u-lost', { monthlyRequestLimit: 5 }))).toEqual({ kind: 'rebuild' });
    expect(await lost.admit(input('u-lost', { keyRpm: 5 }))).toMatchObject({ kind: 'admitted' });
    await deleteKeys(conns[0], `${lostNs}:`);
  });

  it('skips nothing it was asked to count, and charges nothing on a refusal', async () => {
    const limits = { dailyRequestLimit: 2, keyRpm: 100 };
    await stores[0].admit(input('u-req', limits));
    await stores[0].admit(input('u-req', limits));
    expect(await stores[0].admit(input('u-req', limits))).toMatchObject({ check: 'daily_requests' });
    expect(await counters.read('u-req', now)).toMatchObject({ dailyRequests: 2 });
    const keyCount = await conns[0].get(keys.keyRequests('u-req-key', { window: Math.floor(now / 60_000) } as never));
    expect(Number(keyCount)).toBe(2);
  });

  it('names the exhausted limit that resets last: waiting for an earlier reset would only meet the next refusal', async () => {
    // Both the day's and the month's requests are used up: at midnight the month's still refuses, so Retry-After and
    // the message must name the month (it named the day, and a client that waited was refused again).
    const limits = { dailyRequestLimit: 2, monthlyRequestLimit: 2, keyRpm: 2 };
    await stores[0].admit(input('u-last', limits));
    await stores[0].admit(input('u-last', limits));
    expect(await stores[1].admit(input('u-last', limits))).toMatchObject({
      kind: 'refused',
      check: 'monthly_requests',
      current: 2,
      limit: 2,
      tooLarge: false,
      retryAfterMs: endOfUtcMonth - now,
    });
    // The minute's rate limit and the day's quota: the day.
    const dayAndMinute = { dailyRequestLimit: 1, keyRpm: 1 };
    await stores[0].admit(input('u-last-day', dayAndMinute));
    expect(await stores[1].admit(input('u-last-day', dayAndMinute))).toMatchObject({
      check: 'daily_requests',
      retryAfterMs: endOfUtcDay - now,
    });
    // A limit the request alone exceeds wins over any wait: no reset lets it through.
    const big = { keyTpm: 50, monthlyRequestLimit: 1 };
    await stores[0].admit(input('u-last-big', big, { tokens: 10 }));
    expect(await stores[1].admit(input('u-last-big', big, { tokens: 100 }))).toMatchObject({
      check: 'key_tpm',
      tooLarge: true,
    });
  });
});
