import { NO_LIMITS, type CallerLimits, type Reservation } from '@aigw/core';
import {
  AdmissionStore,
  GovernanceKeys,
  QuotaCountersStore,
  type AdmissionInput,
  type AdmissionVerdict,
} from '@aigw/governance';
import type Redis from 'ioredis';
import { connect, deleteKeys, uniquePrefix } from '../routing/redis';

/**
 * The worst-case spend of requests in flight, held apart from what was spent: a budget refused only for what they
 * hold says so (and to retry in seconds, not at midnight).
 */
describe('spend holds of requests in flight', () => {
  const prefix = uniquePrefix();
  const keys = new GovernanceKeys(prefix.slice(0, -1));
  const conns: Redis[] = [connect(), connect()];
  const stores = conns.map((c) => new AdmissionStore(c, keys));
  const counters = new QuotaCountersStore(conns[0], keys);
  // Half a minute into the next minute of the real clock, as admission-store.test.ts does.
  const now = (Math.floor(Date.now() / 60_000) + 1) * 60_000 + 30_000;
  const endOfUtcDay = (Math.floor(now / 86_400_000) + 1) * 86_400_000;
  let seq = 0;

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
    requestId: `req-${++seq}`,
    deadlineAt: now + 120_000,
    ...extra,
  });

  const reserved = (v: AdmissionVerdict): Reservation => {
    if (v.kind !== 'admitted' || v.reservation === null) {
      throw new Error(`expected a reservation, got ${JSON.stringify(v)}`);
    }
    return v.reservation;
  };

  it('a budget refused only for what requests in flight hold says so, with a Retry-After of seconds', async () => {
    const limits = { dailySpendLimitUsd: 0.035 };
    const held = [];
    for (let i = 0; i < 3; i++) {
      held.push(reserved(await stores[i % 2].admit(input('u-held', limits))));
    }
    const refused = await stores[0].admit(input('u-held', limits));
    expect(refused).toMatchObject({ kind: 'refused', check: 'daily_spend', tooLarge: false, heldNanos: 30_000_000 });
    // Nothing was spent yet: the budget frees as the requests finish, not at midnight.
    expect(refused.kind === 'refused' && refused.retryAfterMs).toBeLessThanOrEqual(5_000);
    await stores[1].settle(held[0], 40, 0.002);
    expect(await stores[0].admit(input('u-held', limits))).toMatchObject({ kind: 'admitted' });
  });

  it('a budget that was spent (not only held) still says it resets at midnight, and wins over a held one', async () => {
    const limits = { dailySpendLimitUsd: 0.03 };
    await stores[0].settle(reserved(await stores[0].admit(input('u-spent', limits))), 40, 0.025);
    expect(await stores[1].admit(input('u-spent', limits))).toMatchObject({
      kind: 'refused',
      check: 'daily_spend',
      heldNanos: 0,
      retryAfterMs: endOfUtcDay - now,
    });
    // The day's budget is spent, the month's only held: waiting for the holds would meet the day's refusal.
    const both = { dailySpendLimitUsd: 0.02, monthlySpendLimitUsd: 0.025 };
    await stores[0].settle(reserved(await stores[0].admit(input('u-mixed', both))), 40, 0.012);
    reserved(await stores[0].admit(input('u-mixed', both, { reserveUsd: 0.008 })));
    expect(await stores[1].admit(input('u-mixed', both))).toMatchObject({
      kind: 'refused',
      check: 'daily_spend',
      heldNanos: 0,
      retryAfterMs: endOfUtcDay - now,
    });
  });

  it('two admissions under one request id hold twice', async () => {
    const limits = { dailySpendLimitUsd: 1 };
    const a = reserved(await stores[0].admit(input('u-dup', limits, { requestId: 'same' })));
    const b = reserved(await stores[1].admit(input('u-dup', limits, { requestId: 'same' })));
    expect(await counters.read('u-dup', now)).toMatchObject({ dailySpendUsd: 0.02 });
    await stores[0].settle(a, 0, 0);
    await stores[0].settle(b, 0, 0);
    expect(await counters.read('u-dup', now)).toMatchObject({ dailySpendUsd: 0 });
  });
});
