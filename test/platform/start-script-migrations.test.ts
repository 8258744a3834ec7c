import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { advisoryLockKey } from '@aigw/entities';
import {
  deleteRedisKeysOf,
  dropSchema,
  freePort,
  TEST_DATABASE_URL,
  TEST_REDIS_URL,
  uniqueId,
  waitFor,
} from '@aigw/testing';

const ROOT = join(__dirname, '../..');

interface Started {
  child: ChildProcess;
  /** Everything the script printed so far, stdout and stderr as they came. */
  output: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/**
 * `npm start -- --single` on ports of its own, in a schema and Redis prefix of its own. `npm test` built dist before
 * any suite ran, so the script finds it up to date and starts at once.
 */
async function startScript(schema: string, prefix: string, vars: Record<string, string>): Promise<Started> {
  const env = {
    PATH: process.env.PATH ?? '',
    PORT: String(await freePort()),
    SIM_PORT: String(await freePort()),
    REDIS_URL: TEST_REDIS_URL,
    REDIS_PREFIX: prefix,
    DATABASE_URL: TEST_DATABASE_URL,
    DATABASE_SCHEMA: schema,
    BOOTSTRAP_ADMIN_KEY: `sk-aigw-test-${uniqueId()}`,
    HEALTH_PROBES_ENABLED: 'false',
    SHUTDOWN_GRACE_MS: '3000',
    ...vars,
  };
  const child = spawn(process.execPath, [join(ROOT, 'scripts', 'start.mjs'), '--single'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, stderr: () => stderr, exited };
}

/**
 * A session holding the migration lock of `schema`, as a process migrating it would (a first start's migrations,
 * a slow upgrade, another replica): whoever migrates that schema waits until `release`.
 */
async function holdMigrationLock(schema: string): Promise<{ release: () => Promise<void> }> {
  const pg = new Client({ connectionString: TEST_DATABASE_URL });
  await pg.connect();
  await pg.query('SELECT pg_advisory_lock($1::bigint)', [advisoryLockKey('migrations', schema)]);
  let released = false;
  return {
    release: async () => {
      if (!released) {
        released = true;
        await pg.end();
      }
    },
  };
}

/**
 * The readiness wait of `npm start` (START_READY_TIMEOUT_S, 60 s by default) began before the apps ran their
 * migrations, which they did while starting: a first start whose migrations took most of it was declared failed, and
 * everything stopped, although it would have come up. The migrations now run first, with their own budget
 * (START_MIGRATE_TIMEOUT_S), and the readiness wait starts once they are done; either running out is said in one line.
 */
describe('npm start: migrations before the readiness wait, each with its own budget', () => {
  let started: Started | undefined;
  let lock: { release: () => Promise<void> } | undefined;
  const schema = uniqueId('start_mig');
  const prefix = uniqueId('start_mig');

  afterEach(async () => {
    await lock?.release();
    lock = undefined;
    if (started && started.child.exitCode === null && started.child.signalCode === null) {
      started.child.kill('SIGINT');
      await started.exited;
    }
    started = undefined;
  });

  afterAll(async () => {
    await dropSchema(TEST_DATABASE_URL, schema);
    const redis = new Redis(TEST_REDIS_URL);
    await deleteRedisKeysOf(redis, prefix);
    redis.disconnect();
  });

  it('migrations that take longer than the readiness budget: the start succeeds', async () => {
    lock = await holdMigrationLock(schema);
    started = await startScript(schema, prefix, { START_READY_TIMEOUT_S: '30' });
    // The migrations wait for the lock; the readiness budget runs out meanwhile, were it already running.
    await waitFor(() => /waiting for the migration lock/.test(started?.output() ?? ''), { timeoutMs: 60_000 });
    await new Promise((resolve) => setTimeout(resolve, 35_000));
    expect(started.child.exitCode).toBeNull();
    await lock.release();
    await waitFor(() => /AI gateway is up/.test(started?.output() ?? '') || started?.child.exitCode !== null, {
      timeoutMs: 60_000,
    });
    expect(started.output()).toContain('AI gateway is up');
    expect(started.child.exitCode).toBeNull();
  }, 150_000);

  it('migrations that outlast their own budget: one line naming START_MIGRATE_TIMEOUT_S, nothing else started', async () => {
    lock = await holdMigrationLock(schema);
    started = await startScript(schema, prefix, { START_MIGRATE_TIMEOUT_S: '3' });
    expect(await started.exited).toBe(1);
    expect(started.stderr()).toContain(
      'npm start: the database migrations did not finish within 3 s (START_MIGRATE_TIMEOUT_S)',
    );
    expect(started.output()).not.toMatch(/\[(all-in-one|simulator)\]/);
  }, 90_000);

  it('apps not ready within the budget once migrated: one line naming the app and START_READY_TIMEOUT_S', async () => {
    // Nothing holds the lock: the migrations are quick. No app of Nest, Redis and PostgreSQL is ready within a second.
    started = await startScript(schema, prefix, { START_READY_TIMEOUT_S: '1' });
    expect(await started.exited).toBe(1);
    expect(started.stderr()).toMatch(
      /npm start: the all-in-one process \(http:\/\/127\.0\.0\.1:\d+\/health\/ready\) was not ready within 1 s of the migrations' end \(START_READY_TIMEOUT_S\)/,
    );
  }, 90_000);
});
