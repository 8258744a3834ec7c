import { randomUUID } from 'node:crypto';
import { PreferenceStore, runMigrationsLocked, UserEntity, type PreferenceUse } from '@aigw/entities';
import { waitFor } from '@aigw/testing';
import type { DataSource } from 'typeorm';
import { dropSchema, openDataSource, uniqueSchema } from './pg';

/**
 * Two workers flush the uses of the same preferences, each batch listing them in the order its worker first counted
 * them. The statement locked the rows in its batch's order, so two batches naming the same two rows in opposite
 * orders could each hold one and wait for the other: PostgreSQL aborted one as a deadlock (after deadlock_timeout, a
 * second of both workers' flushes held) and its worker wrote that batch again at its next flush. The rows are now
 * locked in one order, whatever the batch's.
 */
describe('preference usage flushes of two workers', () => {
  const schema = uniqueSchema('prefdl');
  let ds: DataSource;
  let prefs: PreferenceStore;
  let users: string[];

  beforeAll(async () => {
    ds = await openDataSource(schema, 4);
    await runMigrationsLocked(ds);
    prefs = new PreferenceStore(ds);
    users = [];
    for (let i = 0; i < 3; i++) {
      const id = (await ds.getRepository(UserEntity).save({ name: `u${i}` })).id;
      users.push(id);
      await prefs.upsert(id, { context: '', provider: 'pa', model: 'm1' });
    }
  });

  afterAll(async () => {
    await ds.destroy();
    await dropSchema(schema);
  });

  const use = (userId: string): PreferenceUse => ({
    userId,
    context: '',
    preferred: 'pa/m1',
    count: 1,
    lastUsedAt: new Date(),
  });

  /** Statements of this schema's flushes waiting for a row lock. */
  async function waiting(): Promise<number> {
    const [row] = await ds.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE wait_event_type = 'Lock' AND query LIKE '%claimed%' AND query LIKE $1`,
      [`%${schema}%`],
    );
    return row.n;
  }

  it('never deadlock on rows they both update, listed in opposite orders', async () => {
    // Which of the two rows sorts first in the lock order does not matter: each case holds that one, then lets go.
    for (const [first, second] of [
      [users[0], users[1]],
      [users[2], users[1]],
    ]) {
      const before = new Map((await countsOf()).map((r) => [r.user_id, r.n]));
      // Another transaction holds `first` (an API write, say): the first flush waits on it, and so does the second,
      // which would first take `second` when it locks in its own order, `first` last.
      const holder = ds.createQueryRunner();
      await holder.connect();
      await holder.startTransaction();
      await holder.query(`SELECT 1 FROM "${schema}".user_preferences WHERE user_id = $1 AND context = '' FOR UPDATE`, [
        first,
      ]);
      const a = prefs.recordUses([use(first), use(second)], randomUUID()).then(
        () => null,
        (err: unknown) => err,
      );
      await waitFor(async () => (await waiting()) >= 1 || null, { timeoutMs: 5_000 });
      const b = prefs.recordUses([use(second), use(first)], randomUUID()).then(
        () => null,
        (err: unknown) => err,
      );
      await waitFor(async () => (await waiting()) >= 2 || null, { timeoutMs: 5_000 });
      await holder.commitTransaction();
      await holder.release();
      expect([await a, await b].map((e) => (e instanceof Error ? e.message : e))).toEqual([null, null]);
      const after = new Map((await countsOf()).map((r) => [r.user_id, r.n]));
      expect(after.get(first)).toBe((before.get(first) ?? 0) + 2);
      expect(after.get(second)).toBe((before.get(second) ?? 0) + 2);
    }
  }, 30_000);

  async function countsOf(): Promise<{ user_id: string; n: number }[]> {
    return ds.query(`SELECT user_id, usage_count::int AS n FROM "${schema}".user_preferences`);
  }
});
