import { GovernanceKeys, QuotaCountersStore } from '@aigw/governance';
import { waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { chat, DATABASE_URL, GatewayHarness, REDIS_URL } from '../support';
import { call, createKey, createUser, recordUsage, usageEvent } from './admin-support';

/**
 * A limit set on a user who had none: the counters are raised to what usage_records say, after the user's cached
 * lookups were dropped. A request admitted under the new limit in between (here: while the raise waits for
 * PostgreSQL) is charged to a counter the raise then overwrites with the larger usage_records figure: its charge was
 * lost, and the user got one request more than the limit every time.
 */
describe('a limit set while requests are admitted under it', () => {
  const h = new GatewayHarness();
  let redis: Redis;
  let db: Client;

  beforeAll(async () => {
    await h.start();
    redis = new Redis(REDIS_URL);
    db = new Client({ connectionString: DATABASE_URL });
    await db.connect();
  }, 60_000);
  afterAll(async () => {
    await db?.end();
    await redis?.quit();
    await h.stop();
  }, 30_000);

  const post = (key: string, text: string): Promise<Response> =>
    fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: h.headers(key),
      body: JSON.stringify(chat(text)),
    });

  it('keeps the charge of a request admitted before the counters were raised', async () => {
    const user = await createUser(h, 'limited-mid-raise');
    const { key } = await createKey(h, { userId: user.id });
    // Two requests made without a limit: in usage_records, in no counter.
    await recordUsage(h, [usageEvent(user.id), usageEvent(user.id)]);
    expect((await post(key, 'cached lookup')).status).toBe(200);

    // The raise's read of usage_records waits while this transaction holds them.
    const tables = ['usage_records', 'usage_hourly', 'usage_daily'].map((t) => `"${h.schema}".${t}`).join(', ');
    await db.query('BEGIN');
    await db.query(`LOCK TABLE ${tables} IN ACCESS EXCLUSIVE MODE`);
    let put: Promise<{ status: number }>;
    try {
      put = call(h, 'PUT', `/api/v1/ai/admin/quotas/${user.id}`, { dailyRequestLimit: 5 });
      // The limit is committed and the cached lookups dropped; the raise waits for the lock.
      await waitFor(
        async () => {
          const r = await db.query<{ n: string }>(
            `SELECT count(*) AS n FROM pg_locks WHERE NOT granted AND relation::regclass::text LIKE $1`,
            [`${h.schema}.usage_%`],
          );
          return Number(r.rows[0].n) > 0;
        },
        { timeoutMs: 5_000, intervalMs: 20, message: 'the raise did not wait for usage_records' },
      );
      // Admitted under the new limit, against counters not raised yet.
      expect((await post(key, 'during the raise')).status).toBe(200);
    } finally {
      await db.query('COMMIT');
    }
    expect((await put).status).toBe(200);

    // Three requests this day (two recorded, one charged): the day's counter holds them all, and two more pass.
    const counters = new QuotaCountersStore(redis, new GovernanceKeys(h.prefix));
    expect((await counters.read(user.id, Date.now())).dailyRequests).toBe(3);
    const after = [];
    for (let i = 0; i < 4; i++) {
      after.push((await post(key, `after ${i}`)).status);
    }
    expect(after).toEqual([200, 200, 429, 429]);
  }, 30_000);
});
