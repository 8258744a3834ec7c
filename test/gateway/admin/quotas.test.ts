import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GatewayHarness, sleep } from '../support';
import { audit, call, createKey, createUser, errorOf, recordUsage, usageEvent, type UserBody } from './admin-support';

const TTL_MS = 200;

interface QuotaBody {
  userId: string;
  tier: string;
  dailyRequestLimit: number | null;
  monthlyRequestLimit: number | null;
  dailySpendLimitUsd: number | null;
  monthlySpendLimitUsd: number | null;
  effective: Record<string, number | null>;
  dailyRequests?: number;
  monthlyRequests?: number;
  dailySpendUsd?: number;
  monthlySpendUsd?: number;
  resetsAt?: { daily: string; monthly: string };
}

/** Quotas over the admin API: read with counters, update with tier changes and cleared limits, reset, audit. */
describe('admin API: quotas', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-tiers-'));
  const tiersFile = path.join(dir, 'tiers.yaml');
  writeFileSync(tiersFile, 'tiers:\n  team: { tpm: 4200, dailyRequestLimit: 7 }\n');
  const h = new GatewayHarness({ AUTH_CACHE_TTL_MS: String(TTL_MS), RATE_LIMIT_RPM: '1000', TIERS_FILE: tiersFile });
  const quota = (userId: string): Promise<{ status: number; body: QuotaBody }> =>
    call<QuotaBody>(h, 'GET', `/api/v1/ai/admin/quotas/${userId}`);

  beforeAll(() => h.start(), 60_000);
  afterAll(async () => {
    await h.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('knows the tiers of TIERS_FILE; RATE_LIMIT_RPM fills the rate a tier leaves open', async () => {
    const u = await createUser(h, 'q-team', 'team');
    expect(u.tier).toBe('team');
    const res = await quota(u.id);
    expect(res.body.effective).toMatchObject({
      userRpm: 1000,
      userTpm: 4200,
      dailyRequestLimit: 7,
      monthlyRequestLimit: null,
    });
  });

  it("reads a new user's quota: the tier's limits, no usage, when the counters start over", async () => {
    const u = await createUser(h, 'q-new', 'free');
    const res = await quota(u.id);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      userId: u.id,
      tier: 'free',
      dailyRequestLimit: null,
      monthlyRequestLimit: null,
      dailySpendLimitUsd: null,
      monthlySpendLimitUsd: null,
      effective: { userRpm: 20, userTpm: 40_000, dailyRequestLimit: 200, monthlySpendLimitUsd: 10 },
      dailyRequests: 0,
      monthlyRequests: 0,
      dailySpendUsd: 0,
      monthlySpendUsd: 0,
    });
    const next = new Date();
    next.setUTCHours(24, 0, 0, 0);
    expect(res.body.resetsAt?.daily).toBe(next.toISOString());
    expect(Date.parse(res.body.resetsAt?.monthly ?? '')).toBeGreaterThanOrEqual(next.getTime());
  });

  it('changes the tier and limits; null clears a limit back to the tier; every change is audited', async () => {
    const u = await createUser(h, 'q-change');
    const put = await call<QuotaBody>(h, 'PUT', `/api/v1/ai/admin/quotas/${u.id}`, {
      tier: 'pro',
      dailyRequestLimit: 5,
      monthlySpendLimitUsd: 12.5,
    });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({
      tier: 'pro',
      dailyRequestLimit: 5,
      monthlySpendLimitUsd: 12.5,
      effective: { dailyRequestLimit: 5, monthlyRequestLimit: 200_000, monthlySpendLimitUsd: 12.5, userRpm: 300 },
    });
    const cleared = await call<QuotaBody>(h, 'PUT', `/api/v1/ai/admin/quotas/${u.id}`, { dailyRequestLimit: null });
    expect(cleared.body).toMatchObject({
      tier: 'pro',
      dailyRequestLimit: null,
      monthlySpendLimitUsd: 12.5,
      effective: { dailyRequestLimit: 10_000 },
    });
    expect((await quota(u.id)).body).toMatchObject({
      tier: 'pro',
      dailyRequestLimit: null,
      monthlySpendLimitUsd: 12.5,
    });

    const entries = (await audit(h, u.id)).filter((e) => e.action === 'quota.update');
    expect(entries).toHaveLength(2);
    expect(entries[1]).toMatchObject({
      actor: expect.stringMatching(/^api-key:[0-9a-f-]{36}:/),
      before: { tier: 'default', dailyRequestLimit: null },
      after: { tier: 'pro', dailyRequestLimit: 5, monthlySpendLimitUsd: 12.5 },
    });
    expect(entries[0]).toMatchObject({ before: { dailyRequestLimit: 5 }, after: { dailyRequestLimit: null } });
  });

  it("reaches the user's keys within the auth cache TTL", async () => {
    const u = await createUser(h, 'q-live');
    const key = (await createKey(h, { userId: u.id })).key;
    const before = await call<{ quota: { dailyRequestLimit: number | null } }>(
      h,
      'GET',
      '/api/v1/ai/usage',
      undefined,
      key,
    );
    expect(before.body.quota.dailyRequestLimit).toBeNull();
    await call(h, 'PUT', `/api/v1/ai/admin/quotas/${u.id}`, { dailyRequestLimit: 3 });
    await sleep(TTL_MS + 100);
    const after = await call<{ quota: { tier: string; dailyRequestLimit: number | null } }>(
      h,
      'GET',
      '/api/v1/ai/usage',
      undefined,
      key,
    );
    expect(after.body.quota).toMatchObject({ tier: 'default', dailyRequestLimit: 3 });
  });

  describe('bad input changes nothing', () => {
    let u: UserBody;
    beforeAll(async () => {
      u = await createUser(h, 'q-bad', 'free');
      await call(h, 'PUT', `/api/v1/ai/admin/quotas/${u.id}`, { dailyRequestLimit: 9 });
    });

    it.each([
      [{ tier: 'platinum' }, 'tier'],
      [{ tier: null }, 'tier'],
      [{ tier: '' }, 'tier'],
      [{ dailyRequestLimit: -1 }, 'dailyRequestLimit'],
      [{ dailyRequestLimit: 1.5 }, 'dailyRequestLimit'],
      [{ monthlyRequestLimit: '10' }, 'monthlyRequestLimit'],
      [{ dailySpendLimitUsd: -0.01 }, 'dailySpendLimitUsd'],
      [{ monthlySpendLimitUsd: 'lots' }, 'monthlySpendLimitUsd'],
      [{ dailyRequestLimit: 1, tier: 'platinum' }, 'tier'],
      [{}, null],
    ])('400 for %j naming %s', async (body, param) => {
      const before = await quota(u.id);
      const auditBefore = await audit(h, u.id);
      const res = await call(h, 'PUT', `/api/v1/ai/admin/quotas/${u.id}`, body);
      expect(res.status).toBe(400);
      expect(errorOf(res)).toMatchObject({ code: 'invalid_request', param });
      expect(await quota(u.id)).toEqual(before);
      expect(await audit(h, u.id)).toEqual(auditBefore);
    });
  });

  it.each([
    ['GET', '', undefined],
    ['PUT', '', { tier: 'pro' }],
    ['POST', '/reset', undefined],
  ])('404 on %s of an unknown user', async (method, suffix, body) => {
    for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
      const res = await call(h, method, `/api/v1/ai/admin/quotas/${id}${suffix}`, body);
      expect(res.status).toBe(404);
      expect(errorOf(res)).toMatchObject({ code: 'not_found', param: 'userId' });
    }
  });

  it('counts usage since the start of the day and month, and reset zeroes the counters (audited)', async () => {
    const u = await createUser(h, 'q-count');
    const other = await createUser(h, 'q-other');
    const lastMonth = new Date();
    lastMonth.setUTCDate(0);
    await recordUsage(h, [
      usageEvent(u.id, { costUsd: 0.25 }),
      usageEvent(u.id, { costUsd: 0.5, status: 'error' }),
      usageEvent(u.id, { costUsd: 7, createdAt: lastMonth.toISOString() }),
      usageEvent(other.id, { costUsd: 3 }),
    ]);
    const before = await quota(u.id);
    expect(before.body).toMatchObject({
      dailyRequests: 2,
      monthlyRequests: 2,
      dailySpendUsd: 0.75,
      monthlySpendUsd: 0.75,
    });

    const reset = await call<QuotaBody>(h, 'POST', `/api/v1/ai/admin/quotas/${u.id}/reset`);
    expect(reset.status).toBe(200);
    expect(reset.body).toMatchObject({ dailyRequests: 0, monthlyRequests: 0, dailySpendUsd: 0, monthlySpendUsd: 0 });
    await recordUsage(h, [usageEvent(u.id, { costUsd: 0.125 })]);
    expect((await quota(u.id)).body).toMatchObject({ dailyRequests: 1, monthlySpendUsd: 0.125 });
    expect((await quota(other.id)).body).toMatchObject({ dailyRequests: 1, dailySpendUsd: 3 });

    const [entry] = (await audit(h, u.id)).filter((e) => e.action === 'quota.reset');
    expect(entry).toMatchObject({
      before: { dailyResetAt: null, monthlyResetAt: null },
      after: { dailyResetAt: expect.any(String), monthlyResetAt: expect.any(String) },
    });
  });
});
