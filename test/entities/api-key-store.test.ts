import { createHash } from 'node:crypto';
import { AmbiguousKeyPrefixError, ApiKeyStore, runMigrationsLocked } from '@aigw/entities';
import type { DataSource } from 'typeorm';
import { dropSchema, openDataSource, uniqueSchema } from './pg';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

describe('ApiKeyStore', () => {
  const schema = uniqueSchema('keys');
  let ds: DataSource;
  let store: ApiKeyStore;

  beforeAll(async () => {
    ds = await openDataSource(schema);
    await runMigrationsLocked(ds);
    store = new ApiKeyStore(ds);
  });

  afterAll(async () => {
    await ds.destroy();
    await dropSchema(schema);
  });

  it('creates a random key, stores only its hash, and finds it by the key', async () => {
    const created = await store.create({ userName: 'alice', role: 'user', name: 'laptop' });
    expect(created.key).toMatch(/^sk-aigw-[A-Za-z0-9_-]{43}$/);
    expect(created.prefix).toBe(created.key.slice(0, 16));
    expect(created.role).toBe('user');

    const rows = await ds.query<Record<string, unknown>[]>('SELECT * FROM api_keys WHERE id = $1', [created.id]);
    expect(rows[0].key_hash).toBe(sha256(created.key));
    expect(JSON.stringify(rows)).not.toContain(created.key);

    expect(await store.findActiveByKey(created.key)).toEqual({
      id: created.id,
      userId: created.userId,
      userName: 'alice',
      role: 'user',
      prefix: created.prefix,
      expiresAt: null,
      allowedModels: null,
      rpm: null,
      tpm: null,
      preferences: null,
      quota: null,
    });
    // The user's preferences, one string by context, change the lookup (the response cache keys by them).
    await ds.query(
      `INSERT INTO user_preferences (user_id, context, provider, model) VALUES ($1, '', 'sim', 'sim-gpt'), ($1, 'code', NULL, 'sim-b/sim-claude')`,
      [created.userId],
    );
    expect((await store.findActiveByKey(created.key))?.preferences).toBe('=sim/sim-gpt|,code=/sim-b/sim-claude|');
    expect(await store.findActiveByKey(`${created.key}x`)).toBeNull();
    expect(await store.findActiveByKey('')).toBeNull();
    // The lookup writes nothing.
    const [after] = await ds.query<{ last_used_at: Date | null }[]>('SELECT last_used_at FROM api_keys WHERE id = $1', [
      created.id,
    ]);
    expect(after.last_used_at).toBeNull();
  });

  it('reuses the user for further keys and lists keys without secrets', async () => {
    const first = await store.create({ userName: 'bob', role: 'user' });
    const second = await store.create({ userName: 'bob', role: 'admin', name: 'ops' });
    expect(second.userId).toBe(first.userId);
    expect(second.key).not.toBe(first.key);

    const list = await store.list();
    const bobs = list.filter((k) => k.userName === 'bob');
    expect(bobs.map((k) => [k.prefix, k.role, k.name])).toEqual([
      [first.prefix, 'user', null],
      [second.prefix, 'admin', 'ops'],
    ]);
    for (const info of list) {
      expect(Object.keys(info).sort()).toEqual(
        [
          'allowedModels',
          'createdAt',
          'expiresAt',
          'id',
          'lastUsedAt',
          'name',
          'prefix',
          'revokedAt',
          'role',
          'rpm',
          'tpm',
          'userId',
          'userName',
        ].sort(),
      );
    }
    expect(JSON.stringify(list)).not.toContain(first.key);
    expect(JSON.stringify(list)).not.toContain(sha256(first.key));
  });

  it("creates the CLI's new user with the key in one transaction, audited as user.create once", async () => {
    const audit = (target: string) =>
      ds.query<{ actor: string; action: string; detail: { after: Record<string, unknown> } }[]>(
        'SELECT actor, action, detail FROM audit_log WHERE target = $1 ORDER BY id',
        [target],
      );
    const first = await store.create({ userName: 'carol', role: 'user' }, 'cli');
    const second = await store.create({ userName: 'carol', role: 'user' }, 'cli');
    expect(second.userId).toBe(first.userId);
    const userRows = await audit(first.userId);
    expect(userRows).toEqual([
      {
        actor: 'cli',
        action: 'user.create',
        detail: expect.objectContaining({
          before: null,
          after: expect.objectContaining({ id: first.userId, name: 'carol', tier: 'default' }),
        }),
      },
    ]);
    expect((await audit(first.id)).map((r) => r.action)).toEqual(['key.create']);

    // A key the database refuses (a rate beyond its column) leaves no user behind.
    await expect(store.create({ userName: 'dan', role: 'user', rpm: 10_000_000_000 }, 'cli')).rejects.toThrow();
    expect(await ds.query('SELECT id FROM users WHERE name = $1', ['dan'])).toEqual([]);
  });

  it('revokes by prefix or id; revocation sticks and is idempotent', async () => {
    const a = await store.create({ userName: 'carol', role: 'user' });
    const b = await store.create({ userName: 'carol', role: 'user' });

    const revoked = await store.revoke(a.prefix);
    expect(revoked?.id).toBe(a.id);
    expect(revoked?.revokedAt).toBeInstanceOf(Date);
    expect(await store.findActiveByKey(a.key)).toBeNull();
    expect(await store.findActiveByKey(b.key)).not.toBeNull();

    const again = await store.revoke(a.id);
    expect(again?.revokedAt?.getTime()).toBe(revoked?.revokedAt?.getTime());
    expect((await store.revoke(b.id))?.id).toBe(b.id);
    expect(await store.findActiveByKey(b.key)).toBeNull();

    expect(await store.revoke('sk-aigw-nothere0')).toBeNull();
    expect(await store.revoke('00000000-0000-4000-8000-000000000000')).toBeNull();
  });

  it('revokes by the whole key too (the one thing a holder of a leaked key has), matched by its hash', async () => {
    const a = await store.create({ userName: 'erin', role: 'user' });
    const revoked = await store.revoke(a.key);
    expect(revoked?.id).toBe(a.id);
    expect(await store.findActiveByKey(a.key)).toBeNull();
    // A bootstrap key is chosen by the operator: its prefix is a third of it, and the whole key revokes it as well.
    const boot = await store.ensureBootstrapKey('operator-chosen-bootstrap-key', 'erin-admin');
    expect((await store.revoke('operator-chosen-bootstrap-key'))?.id).toBe(boot.id);
    expect(await store.revoke(`sk-aigw-${'x'.repeat(43)}`)).toBeNull();
  });

  it('refuses an ambiguous prefix', async () => {
    const a = await store.create({ userName: 'dave', role: 'user' });
    await ds.query(`UPDATE api_keys SET prefix = 'sk-aigw-same1234' WHERE id = $1`, [a.id]);
    const b = await store.create({ userName: 'dave', role: 'user' });
    await ds.query(`UPDATE api_keys SET prefix = 'sk-aigw-same1234' WHERE id = $1`, [b.id]);
    await expect(store.revoke('sk-aigw-same1234')).rejects.toThrow(AmbiguousKeyPrefixError);
    expect(await store.findActiveByKey(a.key)).not.toBeNull();
  });

  it('touches last_used_at in one batch, each key at its own time of use, never moving one back', async () => {
    const a = await store.create({ userName: 'erin', role: 'user' });
    const b = await store.create({ userName: 'erin', role: 'user' });
    const c = await store.create({ userName: 'erin', role: 'user' });
    const early = new Date('2026-01-01T10:00:00.000Z');
    const later = new Date('2026-01-01T10:00:07.250Z');
    await store.touchLastUsed(new Map());
    await store.touchLastUsed(
      new Map([
        [a.id, later],
        [b.id, early],
      ]),
    );
    await store.touchLastUsed(new Map([[a.id, early]]));
    const rows = await ds.query<{ id: string; last_used_at: Date | null }[]>(
      'SELECT id, last_used_at FROM api_keys WHERE id = ANY($1::uuid[])',
      [[a.id, b.id, c.id]],
    );
    const used = Object.fromEntries(rows.map((r) => [r.id, r.last_used_at?.toISOString() ?? null]));
    expect(used).toEqual({ [a.id]: later.toISOString(), [b.id]: early.toISOString(), [c.id]: null });
  });

  it('ensures the bootstrap admin key exactly once, even when three processes race', async () => {
    const fresh = uniqueSchema('keys_boot');
    const sources = await Promise.all([1, 2, 3].map(() => openDataSource(fresh)));
    const key = 'bootstrap-admin-key-0123456789abcdef';
    try {
      await runMigrationsLocked(sources[0]);
      const results = await Promise.all(sources.map((s) => new ApiKeyStore(s).ensureBootstrapKey(key)));
      expect(results.map((r) => r.created).sort()).toEqual([false, false, true]);
      expect(new Set(results.map((r) => r.id)).size).toBe(1);

      const bootStore = new ApiKeyStore(sources[0]);
      expect(await bootStore.findActiveByKey(key)).toMatchObject({
        role: 'admin',
        userName: 'admin',
        id: results[0].id,
      });
      const [counts] = await sources[0].query<{ users: string; keys: string }[]>(
        `SELECT (SELECT count(*) FROM "${fresh}".users) AS users, (SELECT count(*) FROM "${fresh}".api_keys) AS keys`,
      );
      expect(counts).toEqual({ users: '1', keys: '1' });
      // The visible prefix never shows more than a third of a short operator-chosen key.
      expect((await bootStore.list())[0].prefix).toBe(key.slice(0, 12));

      const again = await bootStore.ensureBootstrapKey(key);
      expect(again).toEqual({ id: results[0].id, userId: results[0].userId, created: false, revoked: false });

      // An operator's revocation is not undone by the next boot.
      await bootStore.revoke(again.id);
      expect(await bootStore.ensureBootstrapKey(key)).toMatchObject({ created: false, revoked: true });
      expect(await bootStore.findActiveByKey(key)).toBeNull();

      await expect(bootStore.ensureBootstrapKey(' ')).rejects.toThrow('must not be empty');
    } finally {
      await Promise.all(sources.map((s) => s.destroy()));
      await dropSchema(fresh);
    }
  });
});
