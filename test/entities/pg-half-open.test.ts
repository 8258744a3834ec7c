import {
  createDataSourceOptions,
  DATABASE_READ_TIMEOUT_MS,
  databaseUnavailable,
  withoutReadTimeout,
} from '@aigw/entities';
import { DataSource } from 'typeorm';
import { TcpProxy } from '../worker/tcp-proxy';
import { DATABASE_URL } from './pg';

/**
 * A half-open network to PostgreSQL (a proxy or NAT that stops forwarding without closing anything): a query sent
 * into it used to wait for good. Under load that held the usage writer's batches (their rows stayed out of
 * PostgreSQL until the worker was restarted), kept a worker unready after the network was back, and made requests
 * wait a minute on their API-key lookup.
 */
describe('the PostgreSQL pool over a half-open network', () => {
  const target = new URL(DATABASE_URL);
  let relay: TcpProxy;
  let ds: DataSource | undefined;

  beforeEach(async () => {
    relay = new TcpProxy(target.hostname, Number(target.port || 5432));
    await relay.up();
  });

  afterEach(async () => {
    await relay.down();
    await ds?.destroy().catch(() => undefined);
    ds = undefined;
  });

  async function open(readTimeoutMs?: number): Promise<DataSource> {
    const url = new URL(DATABASE_URL);
    url.port = String(relay.port);
    ds = await new DataSource(
      createDataSourceOptions({ url: url.toString(), schema: 'public', poolSize: 2, readTimeoutMs }),
    ).initialize();
    return ds;
  }

  it('fails a query that gets no answer, and serves again once the network is back', async () => {
    const db = await open(1_500);
    await Promise.all([db.query('SELECT 1'), db.query('SELECT 2')]); // both pooled connections open
    relay.stall();
    const started = Date.now();
    const stuck = await Promise.allSettled([db.query('SELECT 3'), db.query('SELECT 4')]);
    expect(stuck.map((s) => s.status)).toEqual(['rejected', 'rejected']);
    expect(Date.now() - started).toBeLessThan(4_000);
    // Told apart from a bug: the gateway answers such a failure with a retryable 503, not a 500 internal_error.
    expect(stuck.map((s) => s.status === 'rejected' && databaseUnavailable(s.reason))).toEqual([true, true]);
    relay.resume();
    // No connection that went silent is handed out again.
    for (let i = 0; i < 4; i++) {
      await expect(db.query('SELECT 1 AS one')).resolves.toEqual([{ one: 1 }]);
    }
  }, 30_000);

  it('leaves a slow query that does answer alone when its connection has no deadline (migrations)', async () => {
    const db = await open(1_000);
    const runner = db.createQueryRunner('master');
    try {
      await runner.connect();
      await expect(runner.query('SELECT pg_sleep(1.5)')).rejects.toThrow(/no answer/);
    } finally {
      await runner.release();
    }
    const migrating = db.createQueryRunner('master');
    try {
      await migrating.connect();
      const slow = withoutReadTimeout(migrating, (): Promise<unknown> =>
        migrating.query('SELECT pg_sleep(1.5), 1 AS done'),
      );
      await expect(slow).resolves.toEqual([{ pg_sleep: '', done: 1 }]);
    } finally {
      await migrating.release();
    }
  }, 30_000);

  it('defaults to a deadline well above any query of the apps', () => {
    expect(DATABASE_READ_TIMEOUT_MS).toBeGreaterThanOrEqual(10_000);
  });
});
