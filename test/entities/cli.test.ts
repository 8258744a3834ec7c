import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ApiKeyStore, MIGRATIONS, ProviderEntity, runMigrationsLocked, SecretBox } from '@aigw/entities';
import { CuttableRelay, freePort, TEST_REDIS_URL } from '@aigw/testing';
import type { DataSource } from 'typeorm';
import { DATABASE_URL, dropSchema, openDataSource, tablesIn, uniqueSchema } from './pg';

const ROOT = join(__dirname, '../..');
const MIGRATE = join(ROOT, 'dist/libs/entities/src/cli/migrate.js');
const KEYS = join(ROOT, 'dist/tools/keys/main.js');
const SECRETS = join(ROOT, 'dist/tools/secrets/main.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], env: Record<string, string>, timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const node = (file: string, args: string[], env: Record<string, string>) => run(process.execPath, [file, ...args], env);

describe('command-line tools (built)', () => {
  const schemas: string[] = [];
  let ds: DataSource | undefined;

  beforeAll(async () => {
    // The build `npm test` and `npm start` make (scripts/lib.mjs): `npm run build` unless dist is up to date with the
    // sources. Under `npm test` it just ran, so this costs a few ms instead of another tsc pass over the project.
    const built = await run(
      process.execPath,
      ['--input-type=module', '-e', "import { build } from './scripts/lib.mjs'; build();"],
      {},
      300_000,
    );
    if (built.code !== 0) {
      throw new Error(`npm run build failed:\n${built.stdout}${built.stderr}`);
    }
  }, 600_000);

  afterAll(async () => {
    await ds?.destroy();
    for (const schema of schemas) {
      await dropSchema(schema);
    }
  });

  function freshSchema(label: string): string {
    const schema = uniqueSchema(label);
    schemas.push(schema);
    return schema;
  }

  describe('migrate', () => {
    it('applies the migrations to a fresh schema, then reports it up to date', async () => {
      const schema = freshSchema('cli_migrate');
      const env = { DATABASE_URL, DATABASE_SCHEMA: schema };
      const first = await node(MIGRATE, [], env);
      expect(first).toMatchObject({ code: 0, stderr: '' });
      expect(first.stdout).toContain(`applied ${MIGRATIONS.map((m) => m.name).join(', ')} to schema "${schema}"`);
      const second = await node(MIGRATE, [], env);
      expect(second.code).toBe(0);
      expect(second.stdout.trim()).toBe(`schema "${schema}" is up to date`);
      ds = await openDataSource(schema);
      expect(await tablesIn(ds, schema)).toContain('usage_records');
    });

    it('waits for a PostgreSQL that is not up yet (a cluster or compose starting together), a line per attempt', async () => {
      const schema = freshSchema('cli_wait');
      const relay = new CuttableRelay(DATABASE_URL);
      relay.port = await freePort();
      try {
        const child = spawn(process.execPath, [MIGRATE], {
          cwd: ROOT,
          env: { PATH: process.env.PATH ?? '', DATABASE_URL: relay.url(), DATABASE_SCHEMA: schema },
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        const refused = new Promise<void>((resolve) =>
          child.stderr.on('data', (d: Buffer) => {
            stderr += d.toString();
            if (stderr.includes('trying again')) {
              resolve();
            }
          }),
        );
        const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
        // PostgreSQL comes up once the tool has been refused (or the tool has given up).
        await Promise.race([refused, exited]);
        await relay.open();
        expect(await exited).toBe(0);
        expect(stderr).toMatch(
          /^PostgreSQL cannot be reached \(connect ECONNREFUSED [^)]*\); trying again in 2000 ms\n/,
        );
        expect(stdout).toContain(`applied ${MIGRATIONS.map((m) => m.name).join(', ')} to schema "${schema}"`);
      } finally {
        await relay.cut();
      }
    });

    it('prints its usage for --help and exits 2 for another argument, without connecting (it migrated)', async () => {
      const closed = { DATABASE_URL: 'postgres://postgres:hunter2@127.0.0.1:1/test' };
      const help = await node(MIGRATE, ['--help'], closed);
      expect(help).toEqual({ code: 0, stdout: expect.stringMatching(/^Usage: npm run migration:run/), stderr: '' });
      const bad = await node(MIGRATE, ['--schema', 'x'], closed);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/^migrate: unexpected argument '--schema'\n\nUsage: npm run migration:run/);
      expect(bad.stdout).toBe('');
    });

    it.each([
      [{ DATABASE_URL: 'mysql://root:hunter2@127.0.0.1/db' }, 'DATABASE_URL must start with postgres://'],
      [{ DATABASE_URL: 'postgres://postgres:hunter2@127.0.0.1:1/test' }, 'migration failed: connect ECONNREFUSED'],
      [{ DATABASE_URL, DATABASE_SCHEMA: 'Bad-Schema' }, 'invalid database schema name'],
      // TypeORM's decodeURIComponent threw a bare `URIError: URI malformed` with a stack.
      [
        { DATABASE_URL: 'postgres://postgres:hunter2%zz@127.0.0.1:1/test' },
        "DATABASE_URL's user or password is not valid percent-encoding",
      ],
    ])('fails clearly, without echoing the password, for %j', async (env, message) => {
      const result = await node(MIGRATE, [], env);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(message);
      expect(result.stderr).not.toContain('hunter2');
      expect(result.stderr).not.toMatch(/URIError|\n\s+at /);
    });
  });

  describe('keys', () => {
    it('creates, lists and revokes keys in a schema no app has migrated yet', async () => {
      const schema = freshSchema('cli_keys');
      // A revoke tells the gateways on REDIS_URL (auth-changes.test has them listening).
      const env = { DATABASE_URL, DATABASE_SCHEMA: schema, REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: schema };
      const admin = await openDataSource('public', 1);
      await admin.query(`CREATE SCHEMA "${schema}"`).finally(() => admin.destroy());

      const created = await node(KEYS, ['create', '--user', 'alice', '--admin', '--name', 'ops laptop'], env);
      expect(created.code).toBe(0);
      expect(created.stderr).toMatch(/applied \d+ pending migration\(s\)/);
      const key = /(sk-aigw-[A-Za-z0-9_-]{43})/.exec(created.stdout)?.[1];
      expect(key).toBeDefined();
      expect(created.stdout).toContain('cannot be shown again');

      const local = await openDataSource(schema);
      try {
        const store = new ApiKeyStore(local);
        const found = await store.findActiveByKey(key ?? '');
        expect(found).toMatchObject({ userName: 'alice', role: 'admin', prefix: key?.slice(0, 16) });

        const listed = await node(KEYS, ['list'], env);
        expect(listed.code).toBe(0);
        const lines = listed.stdout.trim().split('\n');
        expect(lines[0]).toMatch(
          /^ID\s+PREFIX\s+USER\s+ROLE\s+NAME\s+CREATED\s+LAST USED\s+REVOKED\s+EXPIRES\s+MODELS$/,
        );
        expect(lines[1]).toContain(found?.prefix);
        expect(lines[1]).toMatch(/alice\s+admin\s+ops laptop\s+\d{4}-\d\d-\d\dT[\d:]+Z\s+-\s+-\s+-\s+\*$/);
        expect(listed.stdout).not.toContain(key);
        expect(listed.stdout).not.toContain(
          createHash('sha256')
            .update(key ?? '')
            .digest('hex'),
        );

        // Users are listed as the keys are: a header line, then one fixed-width row each.
        const users = await node(KEYS, ['users'], env);
        expect(users).toMatchObject({ code: 0, stderr: '' });
        const userLines = users.stdout.trim().split('\n');
        expect(userLines[0]).toMatch(/^ID\s+NAME\s+TIER\s+CREATED$/);
        expect(userLines[1]).toMatch(
          new RegExp(`^${found?.userId}\\s+alice\\s+default\\s+\\d{4}-\\d\\d-\\d\\dT[\\d:]+Z$`),
        );
        expect(userLines).toHaveLength(2);
        // The columns line up under the header.
        expect(userLines[1].indexOf('alice')).toBe(userLines[0].indexOf('NAME'));

        const revoked = await node(KEYS, ['revoke', found?.prefix ?? ''], env);
        expect(revoked.code).toBe(0);
        expect(revoked.stdout).toContain(`Revoked key ${found?.prefix}`);
        expect(await store.findActiveByKey(key ?? '')).toBeNull();

        const missing = await node(KEYS, ['revoke', 'sk-aigw-nothere0'], env);
        expect(missing.code).toBe(1);
        expect(missing.stderr).toContain("No key has the id or prefix 'sk-aigw-nothere0'");
        // A whole key is never printed back (an operator's terminal and a CI log keep what they show).
        const unknownKey = `sk-aigw-${'y'.repeat(43)}`;
        const notFound = await node(KEYS, ['revoke', unknownKey], env);
        expect(notFound.code).toBe(1);
        expect(notFound.stderr).toContain('No key matches the key given');
        expect(notFound.stderr + notFound.stdout).not.toContain(unknownKey);

        expect(revoked.stderr).toBe('');

        // Revoking it again changes nothing: it keeps its time, and no second `key.revoke` is audited. With no Redis
        // to tell the gateways, it says so and how long the key may still work; the revocation stands (exit 0).
        const again = await node(KEYS, ['revoke', found?.id ?? ''], {
          ...env,
          REDIS_URL: 'redis://:a-password@127.0.0.1:42001/0',
        });
        expect(again.code).toBe(0);
        expect(again.stderr).toMatch(
          /^\(the gateways were not told \(Redis: connect ECONNREFUSED 127\.0\.0\.1:42001\): the key stops working/,
        );
        expect(again.stderr).not.toContain('a-password');

        const audit = await local.query<{ action: string; actor: string; detail: Record<string, unknown> }[]>(
          'SELECT action, actor, detail FROM audit_log ORDER BY id',
        );
        expect(audit.map((a) => a.action)).toEqual(['user.create', 'key.create', 'key.revoke']);
        // As the admin API records a revocation: the key before and after (never the key or its hash).
        expect(audit[2]).toMatchObject({
          actor: 'cli',
          detail: {
            before: { id: found?.id, prefix: found?.prefix, userName: 'alice', revokedAt: null },
            after: { id: found?.id, prefix: found?.prefix, userName: 'alice', revokedAt: expect.any(String) },
          },
        });
        expect(JSON.stringify(audit)).not.toContain(key);
      } finally {
        await local.destroy();
      }
    });

    it('refuses a schema that does not exist (a misspelt DATABASE_SCHEMA), creating nothing', async () => {
      const schema = freshSchema('cli_typo');
      for (const args of [['create', '--user', 'alice'], ['list']]) {
        const result = await node(KEYS, args, { DATABASE_URL, DATABASE_SCHEMA: schema });
        expect(result).toEqual({
          code: 1,
          stdout: '',
          stderr:
            `keys: schema "${schema}" does not exist in this database: check DATABASE_SCHEMA, or start the gateway ` +
            '(or run `npm run migration:run`) once with it to create it\n',
        });
      }
      const admin = await openDataSource('public', 1);
      try {
        const rows = await admin.query<unknown[]>('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
        expect(rows).toEqual([]);
      } finally {
        await admin.destroy();
      }
    });

    it.each([[[]], [['create']], [['create', '--user', 'a', '--bogus']], [['revoke']], [['frobnicate']]])(
      'prints the usage and exits 2 for %j, before touching the database',
      async (args) => {
        const result = await node(KEYS, args, {});
        expect(result.code).toBe(2);
        expect(result.stderr).toContain('Usage: npm run keys -- <command>');
        expect(result.stdout).toBe('');
      },
    );

    it('prints help on request and fails clearly when the database is unreachable', async () => {
      const help = await node(KEYS, ['help'], {});
      expect(help.code).toBe(0);
      expect(help.stdout).toContain('create --user NAME [--admin] [--name LABEL]');
      const noDb = await node(KEYS, ['list'], { DATABASE_URL: 'postgres://postgres:hunter2@127.0.0.1:1/test' });
      expect(noDb.code).toBe(1);
      expect(noDb.stderr).toContain('ECONNREFUSED');
      expect(noDb.stderr).not.toContain('hunter2');
    });
  });

  describe('secrets', () => {
    it('re-encrypts under SECRETS_KEY, refusing clearly (exit 1, nothing changed) when a key is missing', async () => {
      const schema = freshSchema('cli_secrets');
      const [a, b] = [randomBytes(32).toString('base64'), randomBytes(32).toString('hex')];
      const db = await openDataSource(schema);
      try {
        await runMigrationsLocked(db);
        const sealed = SecretBox.fromKey(a).encrypt('sk-cli-rotation-secret');
        await db.getRepository(ProviderEntity).insert({
          id: 'acme',
          kind: 'openai',
          baseUrl: 'http://127.0.0.1:1/v1',
          encryptedSecret: sealed,
        });
        const env = { DATABASE_URL, DATABASE_SCHEMA: schema, NODE_ENV: 'production' };

        const refused = await node(SECRETS, ['rotate'], { ...env, SECRETS_KEY: b });
        expect(refused.code).toBe(1);
        expect(refused.stderr).toContain("secrets: cannot decrypt the stored API key of provider 'acme'");
        expect(refused.stdout).toBe('');
        const badList = await node(SECRETS, ['rotate'], { ...env, SECRETS_KEY: b, SECRETS_KEY_PREVIOUS: `${a},nope` });
        expect(badList.code).toBe(1);
        expect(badList.stderr).toContain('SECRETS_KEY_PREVIOUS must list keys separated by commas');
        expect(badList.stderr).not.toContain(a);
        expect((await db.getRepository(ProviderEntity).findOneByOrFail({ id: 'acme' })).encryptedSecret).toBe(sealed);

        const rotated = await node(SECRETS, ['rotate'], { ...env, SECRETS_KEY: b, SECRETS_KEY_PREVIOUS: a });
        expect(rotated).toMatchObject({ code: 0, stderr: '' });
        expect(rotated.stdout).toContain('Re-encrypted 1 secret(s) under SECRETS_KEY (providers: 1, gateways: 0).');
        for (const text of [rotated.stdout, refused.stderr]) {
          expect(text).not.toMatch(/sk-cli-rotation-secret|v1:/);
        }
        const row = await db.getRepository(ProviderEntity).findOneByOrFail({ id: 'acme' });
        expect(SecretBox.fromKey(b).decrypt(row.encryptedSecret!)).toBe('sk-cli-rotation-secret');
        const again = await node(SECRETS, ['check'], { ...env, SECRETS_KEY: b });
        expect(again.code).toBe(0);
        expect(again.stdout).toContain('Under a key in SECRETS_KEY_PREVIOUS: 0');
      } finally {
        await db.destroy();
      }
    });

    it('prints the usage and exits 2 for a bad command line, before touching the database', async () => {
      const result = await node(SECRETS, ['rotat'], { DATABASE_URL: 'postgres://postgres:hunter2@127.0.0.1:1/test' });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain("secrets: unknown command 'rotat'");
      expect(result.stderr).toContain('Usage: npm run secrets -- <command>');
    });
  });
});
