import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import {
  deleteRedisKeysOf,
  dropSchema,
  freePort,
  PrivateRedis,
  TEST_DATABASE_URL,
  TEST_REDIS_URL,
  uniqueId,
} from '@aigw/testing';
import { ROOT, type AppName } from './harness';

interface Exit {
  code: number | null;
  output: string;
}

/**
 * A misconfigured app exits 1 with one line naming the variable to fix: no stack, no Nest ExceptionHandler dump,
 * no TypeORM retry stacks, and never a start on the wrong Redis database.
 */
describe('apps that cannot start say why, naming the variable, and exit 1', () => {
  const prefix = uniqueId('startfail');
  const schema = prefix;
  const fewDatabases = new PrivateRedis(['--databases', '2']);
  const cachePassword = 'aigw-cache-right-0123';
  const passwordCache = new PrivateRedis(['--requirepass', cachePassword]);

  beforeAll(async () => {
    await Promise.all([fewDatabases.start(), passwordCache.start()]);
  });

  afterAll(async () => {
    await Promise.all([fewDatabases.stop(), passwordCache.stop()]);
    const redis = new Redis(TEST_REDIS_URL);
    await deleteRedisKeysOf(redis, prefix);
    await redis.quit();
    await dropSchema(TEST_DATABASE_URL, schema);
  });

  async function run(app: AppName, env: Record<string, string>): Promise<Exit> {
    const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'apps', app, 'src', 'main.js')], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'test',
        DATABASE_URL: TEST_DATABASE_URL,
        DATABASE_SCHEMA: schema,
        REDIS_URL: TEST_REDIS_URL,
        REDIS_PREFIX: prefix,
        HOST: '127.0.0.1',
        PORT: String(await freePort()),
        LOG_LEVEL: 'warn',
        HEALTH_PROBES_ENABLED: 'false',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    clearTimeout(timer);
    return { code, output };
  }

  /**
   * A PROVIDERS_FILE of `providers` (YAML lines) for the describe calling this, and a schema of its own: the migrations
   * its boots run would spoil the DB_SKIP_MIGRATIONS case. Both go after the describe.
   */
  function providersFile(name: string, providers: string[]): { file: string; schema: string } {
    const fileSchema = `${schema}_${name}`;
    const dir = mkdtempSync(path.join(tmpdir(), 'startfail-'));
    const file = path.join(dir, 'providers.yaml');
    writeFileSync(file, ['providers:', ...providers, ''].join('\n'));
    afterAll(async () => {
      rmSync(dir, { recursive: true, force: true });
      await dropSchema(TEST_DATABASE_URL, fileSchema);
    });
    return { file, schema: fileSchema };
  }

  /** Lines that are no warning of a start in progress. */
  function failureLines(output: string): string[] {
    return output
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.includes(' WARN '))
      .map((l) => l.replace(/^\[Nest\] \d+ +- .*? (FATAL|ERROR) /, '$1 '));
  }

  it.each<AppName>(['api-gateway', 'router-worker', 'health-monitor', 'all-in-one'])(
    '%s refuses a REDIS_URL database index Redis does not have, and writes nothing to database 0',
    async (app) => {
      const { code, output } = await run(app, { REDIS_URL: `redis://127.0.0.1:${fewDatabases.port}/7` });
      expect(code).toBe(1);
      expect(failureLines(output)).toEqual([
        expect.stringMatching(
          /^FATAL \[Redis\] REDIS_URL selects database 7, which this Redis refuses \(ERR DB index is out of range\)/,
        ),
      ]);
      const probe = new Redis(fewDatabases.url);
      try {
        expect(await probe.dbsize()).toBe(0);
      } finally {
        await probe.quit();
      }
    },
  );

  const cacheSchema = `${schema}_cachedb`;
  afterAll(async () => dropSchema(TEST_DATABASE_URL, cacheSchema));

  it.each<AppName>(['api-gateway', 'router-worker'])(
    '%s refuses a CACHE_REDIS_URL database index, naming CACHE_REDIS_URL alone',
    async (app) => {
      // A schema of its own: the app may run its migrations before the cache's connection hears the refusal, which
      // would spoil the DB_SKIP_MIGRATIONS case's schema.
      const { code, output } = await run(app, {
        CACHE_REDIS_URL: `redis://127.0.0.1:${fewDatabases.port}/7`,
        DATABASE_SCHEMA: cacheSchema,
      });
      expect(code).toBe(1);
      // Before, "CACHE_REDIS_URL (else REDIS_URL)", whichever of the two was set (and with REDIS_URL alone, the line
      // of the test above named one or the other as the cache's or the main connection heard the refusal first).
      expect(failureLines(output)).toEqual([
        expect.stringMatching(
          /^FATAL \[Redis\] CACHE_REDIS_URL selects database 7, which this Redis refuses \(ERR DB index is out of range\)/,
        ),
      ]);
    },
  );

  /** Whether `name` exists in the test database: a start refused before anything touched PostgreSQL leaves none. */
  async function schemaExists(name: string): Promise<boolean> {
    const pg = new Client({ connectionString: TEST_DATABASE_URL });
    await pg.connect();
    try {
      const { rowCount } = await pg.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [name]);
      return rowCount === 1;
    } finally {
      await pg.end();
    }
  }

  const untouched = `${schema}_untouched`;
  afterAll(async () => {
    await dropSchema(TEST_DATABASE_URL, untouched);
    await dropSchema(TEST_DATABASE_URL, `${schema}_cachedown`);
  });

  it.each<AppName>(['api-gateway', 'router-worker', 'all-in-one'])(
    '%s: a CACHE_REDIS_URL whose login Redis refuses stops the start in one line naming it, before migrations',
    async (app) => {
      const wrong = 'aigw-cache-wrong-4567';
      // Before, a warning naming no variable ("Redis unavailable (connection: ReplyError: WRONGPASS ...)"), and the
      // app served without its cache for good.
      const { code, output } = await run(app, {
        CACHE_REDIS_URL: `redis://:${wrong}@127.0.0.1:${passwordCache.port}/0`,
        DATABASE_SCHEMA: untouched,
      });
      expect(code).toBe(1);
      expect(output).not.toContain(wrong);
      expect(failureLines(output)).toEqual([
        `[${app}] failed to start: Redis at 127.0.0.1:${passwordCache.port} refused the login: check the user and ` +
          "password in CACHE_REDIS_URL (redis://user:password@host:port/db; a password alone logs in as Redis's " +
          'default user)',
      ]);
      expect(await schemaExists(untouched)).toBe(false);
    },
  );

  it('api-gateway: a CACHE_REDIS_URL that is down does not stop the start (the cache is optional)', async () => {
    const { code, output } = await run('api-gateway', {
      CACHE_REDIS_URL: `redis://127.0.0.1:${await freePort()}/0`,
      DATABASE_SCHEMA: `${schema}_cachedown`,
      // Stops the start right after its first step that needs PostgreSQL: past the Redis checks.
      DB_SKIP_MIGRATIONS: 'true',
    });
    expect(code).toBe(1);
    expect(output).toMatch(/lacks \d+ migration\(s\)/);
    expect(output).not.toContain('CACHE_REDIS_URL');
  });

  it.each<AppName>(['api-gateway', 'router-worker', 'health-monitor', 'all-in-one'])(
    '%s: a bad provider variable (OLLAMA_BASE_URL) is refused with the environment, before migrations',
    async (app) => {
      // Before, the migrations ran first, then "failed to start: Invalid provider registration from the environment".
      const { code, output } = await run(app, {
        OLLAMA_BASE_URL: 'localhost:11434',
        VLLM_BASE_URL: 'http://127.0.0.1:8000/v1',
        VLLM_MODELS: 'qwen, qwen',
        DATABASE_SCHEMA: untouched,
      });
      expect(code).toBe(1);
      // Once per process: the single process's apps share the variables.
      expect(output.trim().split('\n')).toEqual([
        `[${app === 'all-in-one' ? 'api-gateway' : app}] Invalid environment variables:`,
        '  - OLLAMA_BASE_URL: OLLAMA_BASE_URL must be an http(s) URL',
        "  - VLLM_MODELS: VLLM_MODELS names model 'qwen' more than once",
      ]);
      expect(await schemaExists(untouched)).toBe(false);
    },
  );

  describe('a PROVIDERS_FILE that is not valid', () => {
    const { file } = providersFile('invalid', ['  - id: broken', '    kind: openai', '    baseUrl: not a url']);

    it.each<AppName>(['api-gateway', 'router-worker', 'all-in-one'])('%s refuses it before migrations', async (app) => {
      const { code, output } = await run(app, { PROVIDERS_FILE: file, DATABASE_SCHEMA: untouched });
      expect(code).toBe(1);
      expect(output).not.toMatch(/ExceptionHandler|\n\s+at /);
      const name = app === 'all-in-one' ? 'api-gateway' : app;
      expect(failureLines(output).join('\n')).toMatch(
        new RegExp(
          `^\\[${name}\\] failed to start: Invalid provider catalog file ${file}:\\n  - providers\\[0\\][^\\n]*$`,
        ),
      );
      expect(await schemaExists(untouched)).toBe(false);
    });
  });

  it('PostgreSQL unreachable: one line per attempt, then one naming DATABASE_URL', async () => {
    const closed = await freePort();
    const { code, output } = await run('api-gateway', {
      DATABASE_URL: `postgres://postgres:pg-s3cret@127.0.0.1:${closed}/postgres`,
    });
    expect(code).toBe(1);
    expect(output).not.toMatch(/ExceptionHandler|\n\s+at /);
    expect(output).not.toContain('pg-s3cret');
    expect(failureLines(output)).toEqual([
      `[api-gateway] failed to start: PostgreSQL at 127.0.0.1:${closed}/postgres cannot be reached ` +
        `(connect ECONNREFUSED 127.0.0.1:${closed}): check DATABASE_URL and that PostgreSQL is up`,
    ]);
  });

  it.each<AppName>(['api-gateway', 'router-worker'])(
    '%s: a DATABASE_URL password that is not valid percent-encoding is refused before connecting, unechoed',
    async (app) => {
      // TypeORM's decodeURIComponent threw `URIError: URI malformed` with a stack, after Redis had connected.
      const { code, output } = await run(app, {
        DATABASE_URL: 'postgres://postgres:pg-s3cret%zz@127.0.0.1:1/postgres',
      });
      expect(code).toBe(1);
      expect(output).not.toContain('pg-s3cret');
      expect(output.trim().split('\n')).toEqual([
        `[${app}] Invalid environment variables:`,
        "  - DATABASE_URL: DATABASE_URL's user or password is not valid percent-encoding; percent-encode the " +
          'characters % @ : / # ? in the user and password, e.g. % as %25, # as %23',
      ]);
    },
  );

  it('a schema without its migrations and DB_SKIP_MIGRATIONS=true: says to run them', async () => {
    const { code, output } = await run('router-worker', { DB_SKIP_MIGRATIONS: 'true' });
    expect(code).toBe(1);
    expect(failureLines(output)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^\\[router-worker\\] failed to start: schema "${schema}" lacks \\d+ migration\\(s\\) \\(from Initial\\d+\\) ` +
            'and DB_SKIP_MIGRATIONS=true: run them first \\(`npm run migration:run`',
        ),
      ),
    ]);
  });

  it.each([
    ['REDIS_URL', 'redis://127.0.0.1:notaport', 'REDIS_URL is not a valid URL'],
    ['HOST', '0.0.0.0 x', 'HOST must be a host name or IP address, without spaces'],
    ['PORT', 'abc', 'must be a number, got "abc"'],
  ])('%s=%j: the variable, not a stack', async (name, value, message) => {
    const { code, output } = await run('api-gateway', { [name]: value });
    expect(code).toBe(1);
    expect(output.trim().split('\n')).toEqual([
      '[api-gateway] Invalid environment variables:',
      expect.stringContaining(`  - ${name}: ${message}`),
    ]);
  });
  describe('a PROVIDERS_FILE naming a plugin module that cannot be found', () => {
    const { file, schema: pluginSchema } = providersFile('plugin', [
      '  - id: acme',
      '    kind: plugin',
      '    plugin: ./no/such/plugin.js',
      '    baseUrl: http://127.0.0.1:9',
      '    models: [{ name: acme-1, promptPer1k: 0, completionPer1k: 0, contextWindow: 1000 }]',
    ]);

    async function providerIds(): Promise<string[]> {
      const pg = new Client({ connectionString: TEST_DATABASE_URL });
      await pg.connect();
      try {
        const { rows } = await pg.query<{ id: string }>(`SELECT id FROM "${pluginSchema}".providers`);
        return rows.map((r) => r.id);
      } finally {
        await pg.end();
      }
    }

    // The gateway and the monitor started on it, and whichever app came first seeded it: every router-worker that
    // started after stopped on a provider the file no longer needed to name.
    it.each<AppName>(['api-gateway', 'router-worker', 'health-monitor', 'all-in-one'])(
      '%s stops before seeding it, naming the module, without a stack',
      async (app) => {
        const { code, output } = await run(app, { PROVIDERS_FILE: file, DATABASE_SCHEMA: pluginSchema });
        expect(code).toBe(1);
        expect(output).not.toMatch(/ExceptionHandler|\n\s+at |Require stack/);
        expect(failureLines(output).join('\n')).toMatch(
          new RegExp(`^\\[${app}\\] failed to start: [^]*plugin module './no/such/plugin.js' cannot be found`),
        );
        expect(await providerIds()).toEqual([]);
      },
    );
  });

  describe('a PROVIDERS_FILE with a provider at a link-local (cloud metadata) address', () => {
    const { file, schema: linkSchema } = providersFile('linklocal', [
      '  - id: meta',
      '    kind: openai',
      '    baseUrl: http://[::ffff:169.254.169.254]/v1',
      '    models: [{ name: meta-1, promptPer1k: 0, completionPer1k: 0, contextWindow: 1000 }]',
    ]);

    // Every call there would be refused (HttpPool's guard): the file is refused as a whole, as for any invalid entry.
    it('stops the start, naming the entry and the variable', async () => {
      const { code, output } = await run('api-gateway', { PROVIDERS_FILE: file, DATABASE_SCHEMA: linkSchema });
      expect(code).toBe(1);
      expect(output).not.toMatch(/ExceptionHandler|\n\s+at /);
      expect(failureLines(output).join('\n')).toMatch(
        /^\[api-gateway\] failed to start: [^]*providers\[0\]\.baseUrl is at a link-local or cloud metadata address[^]*\(provider 'meta'\)[^]*PROVIDER_ALLOW_LINK_LOCAL=true/,
      );
    });
  });

  it('all-in-one: every hosted app names its bad variables at once, as the split apps each do', async () => {
    const { code, output } = await run('all-in-one', {
      ALL_IN_ONE_MONITOR: 'true',
      CACHE_TTL_S: 'abc',
      WORKER_CONCURRENCY: 'abc',
      HEALTH_INTERVAL_S: 'abc',
    });
    expect(code).toBe(1);
    expect(output.trim().split('\n')).toEqual([
      '[api-gateway] Invalid environment variables:',
      '  - CACHE_TTL_S: must be a number, got "abc"',
      '[router-worker] Invalid environment variables:',
      '  - WORKER_CONCURRENCY: must be a number, got "abc"',
      '[health-monitor] Invalid environment variables:',
      '  - HEALTH_INTERVAL_S: must be a number, got "abc"',
    ]);
  });
});
