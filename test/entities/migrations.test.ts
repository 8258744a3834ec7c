import { setTimeout as delay } from 'node:timers/promises';
import { advisoryLockKey, createDataSourceOptions, MIGRATIONS, runMigrationsLocked } from '@aigw/entities';
import { DataSource, type MigrationInterface, type QueryRunner } from 'typeorm';
import { TcpProxy } from '../worker/tcp-proxy';
import { DATABASE_URL, dropSchema, openDataSource, tablesIn, uniqueSchema } from './pg';

/** Every migration's name, oldest first: a fresh schema gets all of them. */
const ALL = [
  'Initial1795254620694',
  'CacheWritePrice1795400000000',
  'Governance1795500000000',
  'ProviderPlugin1795600000000',
  'CostSaved1795700000000',
  'ModelCache1795750000000',
  'HealthChecks1795800000000',
  'ProbeMode1795850000000',
  'UsageRollups1796000000000',
  'PreferenceUsage1796100000000',
  'AdminCatalog1796200000000',
  'UsageDeploymentRollups1796300000000',
  'HealthValidUntil1796400000000',
  'UsageAttempts1796500000000',
  'UsageRetentionEdges1796600000000',
  'ListingIndexes1796700000000',
  'UserNameSearch1796800000000',
  'SeededSettings1796900000000',
  'UsageClientClosed1797000000000',
  'HealthAlertOutbox1797050000000',
  'PreferenceUsageBatches1797100000000',
  'UnservedModels1797200000000',
  'MaxEmbeddingInputs1797300000000',
  'ShortDisplayNames1798500000000',
  'ProviderLatency1799300000000',
];

const TABLES = [
  'api_keys',
  'audit_log',
  'gateways',
  'health_alert_outbox',
  'migrations',
  'models',
  'preference_usage_batches',
  'provider_discovered_models',
  'provider_health_checks',
  'providers',
  'usage_daily',
  'usage_deployment_daily',
  'usage_deployment_hourly',
  'usage_hourly',
  'usage_records',
  'usage_retention_edges',
  'user_preferences',
  'user_quotas',
  'users',
];

describe('migrations', () => {
  const schemas: string[] = [];
  const open: DataSource[] = [];

  async function fresh(label: string, count = 1): Promise<{ schema: string; sources: DataSource[] }> {
    const schema = uniqueSchema(label);
    schemas.push(schema);
    const sources = await Promise.all(Array.from({ length: count }, () => openDataSource(schema)));
    open.push(...sources);
    return { schema, sources };
  }

  afterAll(async () => {
    await Promise.all(open.map((ds) => ds.destroy()));
    for (const schema of schemas) {
      await dropSchema(schema);
    }
  });

  it('creates the schema and every table in it, then goes down and up again', async () => {
    const { schema, sources } = await fresh('updown');
    const [ds] = sources;
    const lines: string[] = [];

    expect(await runMigrationsLocked(ds, (l) => lines.push(l))).toEqual(ALL);
    expect(await tablesIn(ds, schema)).toEqual(TABLES);
    expect(await tablesIn(ds, 'public')).not.toContain('usage_records');
    expect(lines).toEqual([`applied ${ALL.join(', ')} to schema "${schema}"`]);

    for (let i = 0; i < ALL.length; i++) {
      await ds.undoLastMigration({ transaction: 'each' });
    }
    expect(await tablesIn(ds, schema)).toEqual(['migrations']);

    expect(await runMigrationsLocked(ds)).toEqual(ALL);
    expect(await tablesIn(ds, schema)).toEqual(TABLES);
    expect(await runMigrationsLocked(ds, (l) => lines.push(l))).toEqual([]);
    expect(lines.at(-1)).toBe(`schema "${schema}" is up to date`);
  });

  it('says when the schema has migrations of a newer release (a rollback), and still starts', async () => {
    const { schema, sources } = await fresh('ahead');
    const [ds] = sources;
    await runMigrationsLocked(ds);
    await ds.query(
      `INSERT INTO "${schema}"."migrations" ("timestamp", "name") VALUES (1899999999999, 'Future1899999999999')`,
    );
    const lines: string[] = [];
    expect(await runMigrationsLocked(ds, (l) => lines.push(l))).toEqual([]);
    expect(lines).toEqual([
      `schema "${schema}" is up to date`,
      `schema "${schema}" also has 1 migration(s) this build does not know, from a newer release: Future1899999999999`,
    ]);
  });

  it('matches the entities: TypeORM finds nothing to change after the migrations', async () => {
    const { sources } = await fresh('drift');
    const [ds] = sources;
    await runMigrationsLocked(ds);
    const pending = await ds.driver.createSchemaBuilder().log();
    expect(pending.upQueries.map((q) => q.query)).toEqual([]);
  });

  it('lets three replicas race on a fresh schema: one migrates, the others find nothing to do', async () => {
    const { schema, sources } = await fresh('race', 3);
    const results = await Promise.all(sources.map((ds) => runMigrationsLocked(ds)));
    expect(results.flat()).toEqual(ALL);
    const [ds] = sources;
    expect(await tablesIn(ds, schema)).toEqual(TABLES);
    const applied = await ds.query<{ name: string }[]>(`SELECT name FROM "${schema}"."migrations"`);
    expect(applied).toEqual(ALL.map((name) => ({ name })));
  });

  it('says whom a replica waits for while another process holds the migration lock', async () => {
    const { schema, sources } = await fresh('wait', 2);
    const [holder, waiter] = sources;
    const key = advisoryLockKey('migrations', schema);
    const other = holder.createQueryRunner();
    await other.connect();
    await other.query(`SET application_name = 'other-migrator'`);
    const [{ pid }] = (await other.query('SELECT pg_backend_pid() AS pid')) as { pid: number }[];
    await other.query('SELECT pg_advisory_lock($1::bigint)', [key]);

    const lines: string[] = [];
    const migrating = runMigrationsLocked(waiter, (l) => lines.push(l));
    // Until the waiter queues for the lock (bounded: it must get there long before).
    const queued = async (): Promise<boolean> =>
      (
        await holder.query<unknown[]>(
          `SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objsubid = 1
            AND classid::bigint = ($1::bigint >> 32) & 4294967295 AND objid::bigint = $1::bigint & 4294967295`,
          [key],
        )
      ).length > 0;
    for (let i = 0; i < 200 && !(await queued()); i++) {
      await delay(50);
    }
    expect(lines).toEqual([
      `waiting for the migration lock of schema "${schema}": another process is migrating it ` +
        `(PostgreSQL backend pid ${pid} of other-migrator)`,
    ]);

    await other.query('SELECT pg_advisory_unlock($1::bigint)', [key]);
    await other.release();
    expect(await migrating).toEqual(ALL);
    expect(lines.at(-1)).toBe(`applied ${ALL.join(', ')} to schema "${schema}"`);
  });

  it('ends a migration whose client vanished mid-transaction, so the lock and its tables come free', async () => {
    // The migrating process's node is lost mid-migration: its connection neither closes nor carries anything more.
    const schema = uniqueSchema('vanish');
    schemas.push(schema);
    const target = new URL(DATABASE_URL);
    const relay = new TcpProxy(target.hostname, Number(target.port || 5432));
    await relay.up();
    let onStall = (): void => undefined;
    const stalled = new Promise<void>((resolve) => (onStall = resolve));
    class Vanishing1799999999999 implements MigrationInterface {
      name = 'Vanishing1799999999999';
      async up(q: QueryRunner): Promise<void> {
        await q.query(`LOCK TABLE "usage_hourly" IN ACCESS EXCLUSIVE MODE`);
        relay.stall();
        onStall();
        await q.query(`SELECT 1`);
      }
      async down(): Promise<void> {}
    }
    const url = new URL(DATABASE_URL);
    url.port = String(relay.port);
    const lost = await new DataSource({
      ...createDataSourceOptions({ url: url.href, schema }),
      migrations: [...MIGRATIONS, Vanishing1799999999999],
    }).initialize();
    const [ds] = (await fresh('vanish_peer')).sources;
    try {
      const vanished = runMigrationsLocked(lost, undefined, { idleInTransactionTimeoutMs: 500 }).catch(() => 'cut');
      await stalled;
      const inSchema = await openDataSource(schema);
      open.push(inSchema);
      // The running release writes usage meanwhile; another replica migrates. Both get through (bounded wait).
      const outcome = await Promise.race([
        Promise.all([inSchema.query(`SELECT count(*) FROM "usage_hourly"`), runMigrationsLocked(inSchema)]).then(
          ([, ran]) => ran,
        ),
        delay(20_000).then(() => 'still waiting'),
      ]);
      expect(outcome).toEqual([]);
      await relay.down();
      expect(await vanished).toBe('cut');
    } finally {
      await relay.down();
      await lost.destroy().catch(() => undefined);
    }
    expect(await tablesIn(ds, schema)).toEqual(TABLES);
  }, 60_000);

  it('releases the lock when a migration fails', async () => {
    const { schema, sources } = await fresh('fail');
    const [ds] = sources;
    // A table in the way makes the initial migration fail part-way; it must roll back and unlock.
    await ds.query(`CREATE SCHEMA "${schema}"`);
    await ds.query(`CREATE TABLE "${schema}"."providers" (id int)`);
    await expect(runMigrationsLocked(ds)).rejects.toThrow(/providers/);
    expect(await tablesIn(ds, schema)).toEqual(['migrations', 'providers']);

    await ds.query(`DROP TABLE "${schema}"."providers"`);
    const second = await openDataSource(schema);
    open.push(second);
    expect(await runMigrationsLocked(second)).toEqual(ALL);
  });

  it('migrates a schema its role owns with no right on the database, and names a schema it may not create', async () => {
    // A managed PostgreSQL's usual grant: the DBA creates the schema for the gateway's role, which may not create
    // schemas (CREATE on the database) nor install extensions.
    const schema = uniqueSchema('owned');
    const role = `r_${schema}`;
    const admin = await openDataSource('public', 1);
    let ds: DataSource | undefined;
    try {
      await admin.query(`CREATE ROLE "${role}" LOGIN PASSWORD 'owned-schema-only'`);
      await admin.query(`CREATE SCHEMA "${schema}" AUTHORIZATION "${role}"`);
      const url = new URL(DATABASE_URL);
      url.username = role;
      url.password = 'owned-schema-only';
      ds = await new DataSource(createDataSourceOptions({ url: url.href, schema })).initialize();
      expect(await runMigrationsLocked(ds)).toEqual(ALL);
      expect(await tablesIn(ds, schema)).toEqual(TABLES);
      expect(await runMigrationsLocked(ds)).toEqual([]);
      await ds.destroy();

      const missing = uniqueSchema('unowned');
      ds = await new DataSource(createDataSourceOptions({ url: url.href, schema: missing })).initialize();
      await expect(runMigrationsLocked(ds)).rejects.toThrow(
        `schema "${missing}" does not exist and this role may not create it (permission denied for database`,
      );
    } finally {
      await ds?.destroy();
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin.query(`DROP ROLE IF EXISTS "${role}"`);
      await admin.destroy();
    }
  });

  it('refuses an uninitialized DataSource and a bad schema name', async () => {
    const { sources } = await fresh('guard');
    const [ds] = sources;
    await ds.destroy();
    open.splice(open.indexOf(ds), 1);
    await expect(runMigrationsLocked(ds)).rejects.toThrow('initialized DataSource');
    await expect(openDataSource('Bad-Name')).rejects.toThrow("invalid database schema name 'Bad-Name'");
  });
});
