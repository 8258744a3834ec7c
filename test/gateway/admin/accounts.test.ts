import { sha256Hex } from '@aigw/core';
import { waitFor } from '@aigw/testing';
import { ApiKeyAuthenticator } from '../../../apps/api-gateway/src/auth/api-key-authenticator';
import { DataSource } from 'typeorm';
import { GatewayHarness, sleep } from '../support';
import { audit, call, createKey, createUser, errorOf, type KeyBody, type UserBody } from './admin-support';

const TTL_MS = 300;

/** A cursor of the shape the listings hand out (oldest first), at `at`. */
function cursorOf(at: string): string {
  return Buffer.from(`${at} 00000000-0000-4000-8000-000000000000 asc`, 'latin1').toString('base64url');
}

/** Users and keys over the admin API: contract, validation, roles, revocation, expiry and the audit log. */
describe('admin API: users and keys', () => {
  const h = new GatewayHarness({ AUTH_CACHE_TTL_MS: String(TTL_MS) });

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);

  const users = async (): Promise<UserBody[]> =>
    (await call<{ data: UserBody[] }>(h, 'GET', '/api/v1/ai/admin/users')).body.data;
  const keys = async (): Promise<KeyBody[]> =>
    (await call<{ data: KeyBody[] }>(h, 'GET', '/api/v1/ai/admin/keys')).body.data;
  /**
   * The keys as a refused write must leave them: `lastUsedAt` aside, which the gateway writes behind (the admin key's
   * own calls, a test's earlier requests) and may land between two listings.
   */
  const keysAsStored = async (): Promise<Omit<KeyBody, 'lastUsedAt'>[]> =>
    (await keys()).map(({ lastUsedAt: _used, ...rest }) => rest);

  describe('users', () => {
    it('creates a user with the default tier, or the one given, and lists them', async () => {
      const alice = await call<UserBody>(h, 'POST', '/api/v1/ai/admin/users', { name: 'alice' });
      expect(alice.status).toBe(201);
      expect(alice.body).toEqual({
        id: expect.any(String),
        name: 'alice',
        tier: 'default',
        createdAt: expect.any(String),
      });
      const bob = await createUser(h, 'bob', 'pro');
      expect(bob.tier).toBe('pro');
      const listed = await users();
      expect(listed.map((u) => [u.name, u.tier])).toEqual(
        expect.arrayContaining([
          ['alice', 'default'],
          ['bob', 'pro'],
        ]),
      );
    });

    it.each([
      [{}, 'name'],
      [{ name: '' }, 'name'],
      [{ name: '   ' }, 'name'],
      [{ name: 42 }, 'name'],
      [{ name: 'carol', tier: 'platinum' }, 'tier'],
      [{ name: 'carol', tier: 7 }, 'tier'],
      [{ name: 'ca\u0000rol' }, 'name'],
      [{ name: 'carol', teir: 'free' }, 'teir'],
    ])('400 naming the field for %j, nothing created', async (body, param) => {
      const before = await users();
      const res = await call(h, 'POST', '/api/v1/ai/admin/users', body);
      expect(res.status).toBe(400);
      expect(errorOf(res)).toMatchObject({ code: 'invalid_request', param, type: 'invalid_request_error' });
      expect(await users()).toEqual(before);
    });

    it('409 conflict naming the name for a duplicate (as for a taken provider id), nothing changed', async () => {
      await createUser(h, 'dora');
      const before = await users();
      const res = await call(h, 'POST', '/api/v1/ai/admin/users', { name: 'dora', tier: 'pro' });
      expect(res.status).toBe(409);
      expect(errorOf(res)).toMatchObject({ code: 'conflict', param: 'name' });
      expect(await users()).toEqual(before);
    });

    it('400 for a body that is not a JSON object', async () => {
      const res = await call(h, 'POST', '/api/v1/ai/admin/users', '[1]');
      expect(res.status).toBe(400);
    });
  });

  describe('keys', () => {
    let user: UserBody;
    beforeAll(async () => {
      user = await createUser(h, 'keyholder');
    });

    it('creates a key shown once; it authenticates; listings never show it', async () => {
      const res = await call<KeyBody & { key: string }>(h, 'POST', '/api/v1/ai/admin/keys', {
        userId: user.id,
        name: 'ci',
        allowedModels: ['sim-gpt', 'sim-b/*'],
        rpm: 10,
        tpm: 1000,
      });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({
        id: expect.any(String),
        key: expect.stringMatching(/^sk-aigw-/),
        userId: user.id,
        userName: 'keyholder',
        role: 'user',
        name: 'ci',
        allowedModels: ['sim-gpt', 'sim-b/*'],
        rpm: 10,
        tpm: 1000,
        expiresAt: null,
        revokedAt: null,
      });
      expect(res.body.key.startsWith(res.body.prefix)).toBe(true);
      const usage = await call(h, 'GET', '/api/v1/ai/usage', undefined, res.body.key);
      expect(usage.status).toBe(200);

      const listing = await call(h, 'GET', '/api/v1/ai/admin/keys');
      const text = JSON.stringify(listing.body);
      expect(text).not.toContain(res.body.key);
      expect(text).not.toContain(sha256Hex(res.body.key));
      const mine = await call<{ data: KeyBody[] }>(h, 'GET', `/api/v1/ai/admin/keys?userId=${user.id}`);
      expect(mine.body.data.map((k) => k.id)).toEqual([res.body.id]);
      expect(mine.body.data[0]).not.toHaveProperty('key');
      const bad = await call(h, 'GET', '/api/v1/ai/admin/keys?userId=not-a-uuid');
      expect([bad.status, errorOf(bad).param]).toEqual([400, 'userId']);
    });

    it('takes expiresAt null as no expiry, as a key without one lists it', async () => {
      const res = await call<KeyBody>(h, 'POST', '/api/v1/ai/admin/keys', { userId: user.id, expiresAt: null });
      expect(res.status).toBe(201);
      expect(res.body.expiresAt).toBeNull();
    });

    it('creates admin keys that can use the admin API', async () => {
      const admin = await createKey(h, { userId: user.id, role: 'admin' });
      expect(admin.role).toBe('admin');
      expect((await call(h, 'GET', '/api/v1/ai/admin/users', undefined, admin.key)).status).toBe(200);
    });

    it.each([
      [{}, 'userId'],
      [{ userId: 'not-a-uuid' }, 'userId'],
      [{ userId: 'USER', role: 'root' }, 'userId'],
      [{ role: 'root' }, 'role'],
      [{ name: 5 }, 'name'],
      [{ expiresAt: 'tomorrow' }, 'expiresAt'],
      [{ expiresAt: '2099-01-01T00:00:00' }, 'expiresAt'],
      [{ expiresAt: '2001-01-01T00:00:00Z' }, 'expiresAt'],
      // ISO 8601 forms the validator took but a JS Date cannot read: the Invalid Date reached PostgreSQL, a 500.
      [{ expiresAt: '2099-01-01T00Z' }, 'expiresAt'],
      [{ expiresAt: '20990101T000000Z' }, 'expiresAt'],
      [{ expiresAt: '2099-001T00:00:00Z' }, 'expiresAt'],
      [{ expiresAt: '2099-W01-1T00:00:00Z' }, 'expiresAt'],
      [{ allowedModels: [] }, 'allowedModels'],
      [{ allowedModels: 'sim-gpt' }, 'allowedModels'],
      [{ allowedModels: [' sim-gpt'] }, 'allowedModels'],
      [{ allowedModels: ['sim*'] }, 'allowedModels'],
      [{ allowedModels: [3] }, 'allowedModels'],
      [{ allowedModels: ['sim\u0000gpt'] }, 'allowedModels'],
      [{ name: 'ci\u0000key' }, 'name'],
      // A misspelt field is refused, never ignored: ignored, these made a never-expiring, unrestricted key.
      [{ allowedmodels: ['sim-gpt'] }, 'allowedmodels'],
      [{ expiresat: '2099-01-01T00:00:00Z' }, 'expiresat'],
      [{ rpm: 0 }, 'rpm'],
      [{ rpm: '5' }, 'rpm'],
      [{ tpm: 1.5 }, 'tpm'],
    ])('400 naming the field for %j, no key created', async (fields, param) => {
      const body = { userId: user.id, ...fields };
      if ('userId' in fields) {
        body.userId = (fields as { userId?: string }).userId as string;
      }
      if (param === 'userId' && !('userId' in fields)) {
        delete (body as { userId?: string }).userId;
      }
      const before = await keysAsStored();
      const res = await call(h, 'POST', '/api/v1/ai/admin/keys', body);
      expect(res.status).toBe(400);
      expect(errorOf(res)).toMatchObject({ code: 'invalid_request', param });
      expect(await keysAsStored()).toEqual(before);
    });

    it('404 for a user that does not exist, no key created', async () => {
      const before = await keysAsStored();
      const res = await call(h, 'POST', '/api/v1/ai/admin/keys', { userId: '00000000-0000-4000-8000-000000000000' });
      expect(res.status).toBe(404);
      expect(errorOf(res)).toMatchObject({ code: 'not_found', param: 'userId' });
      expect(await keysAsStored()).toEqual(before);
    });

    it('revokes a key: 401 invalid_api_key once the auth cache TTL has passed; revoking again changes nothing', async () => {
      const k = await createKey(h, { userId: user.id });
      expect((await call(h, 'GET', '/api/v1/ai/usage', undefined, k.key)).status).toBe(200);
      const res = await call<KeyBody>(h, 'DELETE', `/api/v1/ai/admin/keys/${k.id}`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ id: k.id, revokedAt: expect.any(String) });
      expect(res.body).not.toHaveProperty('key');
      await sleep(TTL_MS + 100);
      const after = await call(h, 'GET', '/api/v1/ai/usage', undefined, k.key);
      expect(after.status).toBe(401);
      expect(errorOf(after).code).toBe('invalid_api_key');
      const again = await call<KeyBody>(h, 'DELETE', `/api/v1/ai/admin/keys/${k.id}`);
      expect(again.status).toBe(200);
      expect(again.body.revokedAt).toBe(res.body.revokedAt);
      expect((await audit(h, k.id)).filter((a) => a.action === 'key.revoke')).toHaveLength(1);
    });

    it.each(['00000000-0000-4000-8000-000000000000', 'nope'])('404 revoking unknown key %s', async (id) => {
      const res = await call(h, 'DELETE', `/api/v1/ai/admin/keys/${id}`);
      expect(res.status).toBe(404);
      expect(errorOf(res).code).toBe('not_found');
    });

    it('an expired key answers 401 key_expired, even while its lookup is cached', async () => {
      const k = await createKey(h, { userId: user.id, expiresAt: new Date(Date.now() + 1_500).toISOString() });
      expect((await call(h, 'GET', '/api/v1/ai/usage', undefined, k.key)).status).toBe(200);
      await sleep(1_600);
      const res = await call(h, 'POST', '/v1/chat/completions', { model: 'sim-gpt', messages: [] }, k.key);
      expect(res.status).toBe(401);
      expect(errorOf(res)).toMatchObject({ code: 'key_expired', type: 'authentication_error' });
      // Its last use is the accepted request's time, not the refused one's, nor the time the uses were written.
      await h.app.get(ApiKeyAuthenticator).flushTouches();
      const listed = await call<{ data: KeyBody[] }>(h, 'GET', `/api/v1/ai/admin/keys?userId=${user.id}`);
      const lastUsed = listed.body.data.find((key) => key.id === k.id)?.lastUsedAt;
      expect(Date.parse(lastUsed ?? '')).toBeLessThan(Date.parse(k.expiresAt ?? ''));
    });
  });

  describe('roles', () => {
    let userKey = '';
    beforeAll(async () => {
      const u = await createUser(h, 'plain');
      userKey = (await createKey(h, { userId: u.id })).key;
    });

    // Three entries each: jest would take a missing third argument for a done callback.
    const routes: [string, string, unknown][] = [
      ['GET', '/api/v1/ai/admin/users', undefined],
      ['POST', '/api/v1/ai/admin/users', { name: 'sneaky' }],
      ['GET', '/api/v1/ai/admin/keys', undefined],
      ['POST', '/api/v1/ai/admin/keys', { userId: '00000000-0000-4000-8000-000000000000', role: 'admin' }],
      ['DELETE', '/api/v1/ai/admin/keys/00000000-0000-4000-8000-000000000000', undefined],
      ['GET', '/api/v1/ai/admin/quotas/00000000-0000-4000-8000-000000000000', undefined],
      ['PUT', '/api/v1/ai/admin/quotas/00000000-0000-4000-8000-000000000000', { tier: 'pro' }],
      ['POST', '/api/v1/ai/admin/quotas/00000000-0000-4000-8000-000000000000/reset', undefined],
    ];

    it.each(routes)('a user key on %s %s answers 403 and changes nothing', async (method, route, body) => {
      const before = { users: await users(), keys: await keysAsStored() };
      const res = await call(h, method, route, body, userKey);
      expect(res.status).toBe(403);
      expect(errorOf(res)).toMatchObject({ code: 'permission_denied', type: 'permission_error' });
      expect({ users: await users(), keys: await keysAsStored() }).toEqual(before);
    });

    it.each(routes)('no key on %s %s answers 401', async (method, route, _body) => {
      const res = await fetch(`${h.url}${route}`, { method });
      expect(res.status).toBe(401);
    });
  });

  describe('audit log', () => {
    it('records who created a user and a key, and revoked it, with before and after and never a secret', async () => {
      const u = await createUser(h, 'audited', 'free');
      const k = await createKey(h, { userId: u.id, allowedModels: ['sim-gpt'] });
      await call(h, 'DELETE', `/api/v1/ai/admin/keys/${k.id}`);
      const adminKeyId = (await keys()).find((x) => x.name === 'bootstrap')?.id ?? '';
      expect(adminKeyId).not.toBe('');

      const [created] = await audit(h, u.id);
      expect(created).toMatchObject({
        action: 'user.create',
        actor: expect.stringContaining(`api-key:${adminKeyId}:`),
        before: null,
        after: { id: u.id, name: 'audited', tier: 'free' },
      });
      const keyEntries = await audit(h, k.id);
      expect(keyEntries.map((e) => e.action)).toEqual(['key.revoke', 'key.create']);
      const [revoke, create] = keyEntries;
      expect(create).toMatchObject({ before: null, after: { id: k.id, allowedModels: ['sim-gpt'], revokedAt: null } });
      expect(revoke).toMatchObject({
        before: { id: k.id, revokedAt: null },
        after: { id: k.id, revokedAt: expect.any(String) },
      });
      const everything = JSON.stringify(await audit(h));
      expect(everything).not.toContain(k.key);
      expect(everything).not.toContain(sha256Hex(k.key));
      expect(everything).not.toContain(h.adminKey);
    });
  });

  describe('paging', () => {
    interface Page<T> {
      data: T[];
      nextCursor: string | null;
    }

    /** Every page of `route` at `limit` a page, in order. */
    async function walk<T>(route: string, limit: number): Promise<{ items: T[]; pages: number }> {
      const items: T[] = [];
      let pages = 0;
      let cursor: string | null = null;
      do {
        const sep = route.includes('?') ? '&' : '?';
        const q: string = `${sep}limit=${limit}${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
        const res = await call<Page<T>>(h, 'GET', `${route}${q}`);
        expect(res.status).toBe(200);
        expect(res.body.data.length).toBeLessThanOrEqual(limit);
        items.push(...res.body.data);
        pages++;
        cursor = res.body.nextCursor;
      } while (cursor !== null);
      return { items, pages };
    }

    it('walks users and keys a page at a time: each once, in order, rows of one instant included', async () => {
      // Rows created in the same millisecond (microseconds apart, and at the very same instant): a position kept to
      // the millisecond, as a JS Date keeps it, would repeat or skip them.
      const ds = h.app.get(DataSource);
      const users = `"${h.schema}"."users"`;
      const keys = `"${h.schema}"."api_keys"`;
      await ds.query(
        `INSERT INTO ${users} (name, created_at) SELECT 'same-instant-' || g,
           '2020-01-01T00:00:00.000Z'::timestamptz + ((g / 2) || ' microseconds')::interval
           FROM generate_series(1, 7) g`,
      );
      await ds.query(
        `INSERT INTO ${keys} (user_id, key_hash, prefix, created_at)
           SELECT id, md5(name) || md5(id::text), 'sk-aigw-x' || g, created_at
           FROM (SELECT id, name, created_at, row_number() OVER () AS g FROM ${users} WHERE name LIKE 'same-instant-%') u`,
      );
      const all = await ds.query<{ id: string }[]>(`SELECT id FROM ${users} ORDER BY created_at, id`);
      const userWalk = await walk<UserBody>('/api/v1/ai/admin/users', 2);
      expect(userWalk.items.map((u) => u.id)).toEqual(all.map((r) => r.id));
      expect(userWalk.pages).toBe(Math.ceil(all.length / 2));

      const allKeys = await ds.query<{ id: string }[]>(`SELECT id FROM ${keys} ORDER BY created_at, id`);
      expect((await walk<KeyBody>('/api/v1/ai/admin/keys', 3)).items.map((k) => k.id)).toEqual(
        allKeys.map((r) => r.id),
      );
      // Newest first: the same rows, the other way round, each once across pages.
      const usersDesc = await walk<UserBody>('/api/v1/ai/admin/users?order=desc', 2);
      expect(usersDesc.items.map((u) => u.id)).toEqual(all.map((r) => r.id).reverse());
      expect((await walk<KeyBody>('/api/v1/ai/admin/keys?order=desc', 3)).items.map((k) => k.id)).toEqual(
        allKeys.map((r) => r.id).reverse(),
      );
      const one = await createUser(h, 'paged-keys');
      const mine = await Promise.all([1, 2, 3].map((n) => createKey(h, { userId: one.id, name: `k${n}` })));
      const walked = await walk<KeyBody>(`/api/v1/ai/admin/keys?userId=${one.id}`, 2);
      expect(walked.items.map((k) => k.name).sort()).toEqual(['k1', 'k2', 'k3']);
      expect(new Set(walked.items.map((k) => k.id))).toEqual(new Set(mine.map((k) => k.id)));
      expect(walked.pages).toBe(2);
    });

    let crowded = false;
    afterEach(async () => {
      if (crowded) {
        crowded = false;
        await h.app.get(DataSource).query(`DELETE FROM "${h.schema}"."users" WHERE name LIKE 'crowd-%'`);
      }
    });

    it('q finds users by the start of their name in any case, a page at a time, through the name index', async () => {
      const ds = h.app.get(DataSource);
      const users = `"${h.schema}"."users"`;
      // Far more users than match, so a plan that reads every user would show; the ones sought are spread among them.
      await ds.query(
        `INSERT INTO ${users} (name, created_at)
           SELECT 'crowd-' || g, '2021-01-01T00:00:00Z'::timestamptz + (g || ' seconds')::interval
             FROM generate_series(1, 3000) g`,
      );
      const sought = ['Zelda-1', 'zelda-2', 'ZELDA-3', 'zeldA_4', 'Zelda%5', 'zeldarian'];
      for (const name of [...sought, 'not-zelda', 'zeld', 'zelxa_4']) {
        await createUser(h, name);
      }
      await ds.query(`ANALYZE ${users}`);
      crowded = true;
      const all = await ds.query<{ id: string; name: string }[]>(
        `SELECT id, name FROM ${users} WHERE name = ANY($1) ORDER BY created_at, id`,
        [sought],
      );
      const indexScans = async (): Promise<number> => {
        const [row] = await ds.query<{ scans: string }[]>(
          `SELECT idx_scan AS scans FROM pg_stat_user_indexes WHERE schemaname = $1 AND indexrelname = 'ix_users_lower_name'`,
          [h.schema],
        );
        return Number(row?.scans ?? -1);
      };
      const scansBefore = await indexScans();
      expect(scansBefore).toBeGreaterThanOrEqual(0);

      const found = await walk<UserBody>('/api/v1/ai/admin/users?q=zElDa', 4);
      expect(found.items.map((u) => u.name)).toEqual(all.map((r) => r.name));
      expect(found.pages).toBe(2);
      expect(found.items[0]).toEqual({
        id: all[0].id,
        name: all[0].name,
        tier: 'default',
        createdAt: expect.any(String),
      });
      const newest = await walk<UserBody>('/api/v1/ai/admin/users?q=ZELDA&order=desc', 5);
      expect(newest.items.map((u) => u.name)).toEqual(all.map((r) => r.name).reverse());
      // LIKE's wildcards are plain characters: _ is not any character, % not any text.
      const literal = async (q: string) =>
        (await call<Page<UserBody>>(h, 'GET', `/api/v1/ai/admin/users?q=${encodeURIComponent(q)}`)).body.data.map(
          (u) => u.name,
        );
      await expect(literal('zelda_')).resolves.toEqual(['zeldA_4']);
      await expect(literal('zelda%')).resolves.toEqual(['Zelda%5']);
      await expect(literal('zelda-1')).resolves.toEqual(['Zelda-1']);
      await expect(literal('elda')).resolves.toEqual([]);
      // Empty: every user, as without q.
      const first = await call<Page<UserBody>>(h, 'GET', '/api/v1/ai/admin/users?q=&limit=3');
      const plain = await call<Page<UserBody>>(h, 'GET', '/api/v1/ai/admin/users?limit=3');
      expect(first.body).toEqual(plain.body);
      // The name index answered, not a read of every user (a backend reports its statistics up to seconds later).
      await waitFor(async () => (await indexScans()) > scansBefore, { timeoutMs: 15_000 });
    });

    it('answers 100 by default with the next cursor; a full last page says there is no next', async () => {
      const first = await call<Page<UserBody>>(h, 'GET', '/api/v1/ai/admin/users?limit=1');
      expect(first.body.data).toHaveLength(1);
      expect(typeof first.body.nextCursor).toBe('string');
      const all = await call<Page<UserBody>>(h, 'GET', '/api/v1/ai/admin/users');
      expect(all.body.data.length).toBeLessThanOrEqual(100);
      const count = all.body.data.length;
      expect(all.body.nextCursor).toBeNull();
      const exact = await call<Page<UserBody>>(h, 'GET', `/api/v1/ai/admin/users?limit=${count}`);
      expect([exact.body.data.length, exact.body.nextCursor]).toEqual([count, null]);
    });

    it('refuses a cursor replayed with the other order (400 naming cursor), and one that names no order', async () => {
      const made = await Promise.all(['order-a', 'order-b', 'order-c'].map((name) => createUser(h, name)));
      await Promise.all(made.map((u) => createKey(h, { userId: u.id })));
      for (const route of ['/api/v1/ai/admin/users', '/api/v1/ai/admin/keys']) {
        for (const [order, other] of [
          ['asc', 'desc'],
          ['desc', 'asc'],
        ]) {
          const first = await call<Page<{ id: string }>>(h, 'GET', `${route}?limit=1&order=${order}`);
          const cursor = encodeURIComponent(first.body.nextCursor!);
          // The same order continues; the other order would start after that row the wrong way round.
          const same = await call<Page<{ id: string }>>(h, 'GET', `${route}?limit=1&order=${order}&cursor=${cursor}`);
          expect(same.status).toBe(200);
          expect(same.body.data[0].id).not.toBe(first.body.data[0].id);
          const swapped = await call(h, 'GET', `${route}?limit=1&order=${other}&cursor=${cursor}`);
          expect(swapped.status).toBe(400);
          expect(errorOf(swapped)).toEqual({
            message: expect.stringContaining(`order=${order}`) as unknown,
            type: 'invalid_request_error',
            code: 'invalid_request',
            param: 'cursor',
          });
        }
        // No order given is asc: a desc cursor does not continue it.
        const desc = await call<Page<{ id: string }>>(h, 'GET', `${route}?limit=1&order=desc`);
        const res = await call(h, 'GET', `${route}?limit=1&cursor=${encodeURIComponent(desc.body.nextCursor!)}`);
        expect([res.status, errorOf(res).param]).toEqual([400, 'cursor']);
      }
      // The unreleased format without the order (`<at> <id>`) is refused in either order: it cannot tell which.
      const orderless = Buffer.from('2026-01-01T00:00:00.000000Z 00000000-0000-4000-8000-000000000000').toString(
        'base64url',
      );
      for (const order of ['asc', 'desc']) {
        const res = await call(h, 'GET', `/api/v1/ai/admin/users?order=${order}&cursor=${orderless}`);
        expect([res.status, errorOf(res).param]).toEqual([400, 'cursor']);
      }
    });

    it.each([
      ['/api/v1/ai/admin/users?limit=0', 'limit'],
      ['/api/v1/ai/admin/users?limit=1001', 'limit'],
      ['/api/v1/ai/admin/users?limit=ten', 'limit'],
      ['/api/v1/ai/admin/users?limit=1.5', 'limit'],
      ['/api/v1/ai/admin/users?limit=1e2', 'limit'],
      ['/api/v1/ai/admin/users?limit=0x10', 'limit'],
      ['/api/v1/ai/admin/keys?limit=0b11', 'limit'],
      ['/api/v1/ai/admin/keys?limit=%205', 'limit'],
      ['/api/v1/ai/admin/users?limit=1&limit=2', 'limit'],
      ['/api/v1/ai/admin/users?cursor=', 'cursor'],
      ['/api/v1/ai/admin/users?q=a&q=b', 'q'],
      [`/api/v1/ai/admin/users?q=${'a'.repeat(201)}`, 'q'],
      ['/api/v1/ai/admin/users?q=a%00b', 'q'],
      ['/api/v1/ai/admin/users?cursor=bm90LWEtY3Vyc29y', 'cursor'],
      ['/api/v1/ai/admin/keys?cursor=%27%20OR%201%3D1', 'cursor'],
      // Well-formed, but no instant: PostgreSQL's ::timestamptz refused them with an error (a 500).
      [`/api/v1/ai/admin/keys?cursor=${cursorOf('2026-13-45T99:99:99.000000Z')}`, 'cursor'],
      [`/api/v1/ai/admin/users?cursor=${cursorOf('2026-02-30T00:00:00.000000Z')}`, 'cursor'],
      [`/api/v1/ai/admin/users?cursor=${cursorOf('2026-01-01T24:00:00.000000Z')}`, 'cursor'],
      [`/api/v1/ai/admin/users?cursor=${cursorOf('0000-01-01T00:00:00.000000Z')}`, 'cursor'],
      ['/api/v1/ai/admin/keys?limit=-5', 'limit'],
      ['/api/v1/ai/admin/keys?order=newest', 'order'],
      ['/api/v1/ai/admin/keys?userId=not-a-uuid', 'userId'],
    ])('400 in the error envelope naming the parameter for %s', async (route, param) => {
      const res = await call(h, 'GET', route);
      expect(res.status).toBe(400);
      expect(errorOf(res)).toMatchObject({ code: 'invalid_request', type: 'invalid_request_error', param });
    });
  });
});
