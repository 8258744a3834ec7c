import {
  ApiKeyStore,
  AuditLogStore,
  DuplicateUserError,
  QuotaStore,
  runMigrationsLocked,
  UserStore,
} from '@aigw/entities';
import type { DataSource } from 'typeorm';
import { dropSchema, openDataSource, uniqueSchema } from './pg';

/** The stores behind the admin API, against real migrations: users with quotas, governed keys, audit rows. */
describe('governance stores', () => {
  const schema = uniqueSchema('gov');
  let ds: DataSource;
  let users: UserStore;
  let keys: ApiKeyStore;
  let quotas: QuotaStore;
  let audit: AuditLogStore;

  beforeAll(async () => {
    ds = await openDataSource(schema);
    await runMigrationsLocked(ds);
    users = new UserStore(ds);
    keys = new ApiKeyStore(ds);
    quotas = new QuotaStore(ds);
    audit = new AuditLogStore(ds);
  });

  afterAll(async () => {
    await ds.destroy();
    await dropSchema(schema);
  });

  it('creates a user with its quota row and tier, audited; a duplicate name changes nothing', async () => {
    const u = await users.create({ name: 'ana', tier: 'pro' }, 'test');
    expect((await quotas.get(u.id))?.tier).toBe('pro');
    await expect(users.create({ name: 'ana', tier: 'free' }, 'test')).rejects.toBeInstanceOf(DuplicateUserError);
    expect((await users.list()).filter((x) => x.name === 'ana')).toHaveLength(1);
    expect((await audit.list({ target: u.id })).map((e) => e.action)).toEqual(['user.create']);
  });

  it("loads a key's governance and its user's quota row in the cached lookup", async () => {
    const u = await users.create({ name: 'ben', tier: 'free' }, 'test');
    await quotas.update(u.id, { dailyRequestLimit: 7, monthlySpendLimitUsd: 2.5 }, 'test');
    const expiresAt = new Date(Date.now() + 60_000);
    const created = await keys.createForUser(
      { userId: u.id, role: 'user', expiresAt, allowedModels: ['sim/*'], rpm: 3, tpm: 300 },
      'test',
    );
    expect(created).not.toBeNull();
    const found = await keys.findActiveByKey(created!.key);
    expect(found).toMatchObject({
      userId: u.id,
      expiresAt,
      allowedModels: ['sim/*'],
      rpm: 3,
      tpm: 300,
      quota: {
        tier: 'free',
        dailyRequestLimit: 7,
        monthlyRequestLimit: null,
        dailySpendLimitUsd: null,
        monthlySpendLimitUsd: 2.5,
      },
    });
    expect(await keys.createForUser({ userId: '00000000-0000-4000-8000-000000000000', role: 'user' })).toBeNull();
  });

  it('updates quotas (null clears), resets them, and audits before/after; unknown users are null', async () => {
    const u = await users.create({ name: 'cyd', tier: 'default' }, 'test');
    await quotas.update(u.id, { tier: 'pro', dailyRequestLimit: 5 }, 'admin-1');
    const cleared = await quotas.update(u.id, { dailyRequestLimit: null }, 'admin-1');
    expect(cleared).toMatchObject({ tier: 'pro', dailyRequestLimit: null });
    const at = new Date('2026-12-01T10:00:00Z');
    expect(await quotas.reset(u.id, at, 'admin-2')).toMatchObject({ dailyResetAt: at, monthlyResetAt: at });
    const entries = await audit.list({ target: u.id });
    expect(entries.map((e) => [e.action, e.actor])).toEqual([
      ['quota.reset', 'admin-2'],
      ['quota.update', 'admin-1'],
      ['quota.update', 'admin-1'],
      ['user.create', 'test'],
    ]);
    expect(entries[2]).toMatchObject({ before: { tier: 'default' }, after: { tier: 'pro', dailyRequestLimit: 5 } });
    expect(await quotas.update('00000000-0000-4000-8000-000000000000', { tier: 'pro' }, 'x')).toBeNull();
    expect(await quotas.get('nope')).toBeNull();
  });

  it('revokes by id once, audited with before and after', async () => {
    const u = await users.create({ name: 'dee', tier: 'default' }, 'test');
    const k = (await keys.createForUser({ userId: u.id, role: 'admin' }, 'test'))!;
    const [a, b] = await Promise.all([keys.revokeById(k.id, 'admin'), keys.revokeById(k.id, 'admin')]);
    expect(a?.revokedAt).toEqual(b?.revokedAt);
    expect(await keys.findActiveByKey(k.key)).toBeNull();
    const entries = await audit.list({ target: k.id });
    expect(entries.map((e) => e.action)).toEqual(['key.revoke', 'key.create']);
    expect(JSON.stringify(entries)).not.toContain(k.key);
    expect(await keys.revokeById('00000000-0000-4000-8000-000000000000', 'admin')).toBeNull();
  });
});
