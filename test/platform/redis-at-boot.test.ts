import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { dropSchema, freePort, PrivateRedis, sleep, TEST_DATABASE_URL, uniqueId, waitFor } from '@aigw/testing';

const ROOT = path.resolve(__dirname, '..', '..');

/**
 * A Redis that is not up yet when an app starts (a cluster's first rollout applies k8s/redis.yaml with the apps; a
 * Redis pod rescheduled while an app pod starts) is waited for as PostgreSQL is: one line per attempt, the app
 * starting once Redis answers, and one line naming REDIS_URL when it never does. The apps exited at once, on
 * ioredis's "Connection is closed.", so each such pod went into a crash loop and its back-off.
 */
describe('an app started before its Redis', () => {
  const schema = uniqueId('redisboot');
  const redis = new PrivateRedis();
  const children: ChildProcess[] = [];

  afterAll(async () => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
      }
    }
    await redis.stop();
    await dropSchema(TEST_DATABASE_URL, schema);
  });

  function start(app: string, redisUrl: string, port: number): { child: ChildProcess; output: () => string } {
    const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'apps', app, 'src', 'main.js')], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'test',
        DATABASE_URL: TEST_DATABASE_URL,
        DATABASE_SCHEMA: schema,
        REDIS_URL: redisUrl,
        REDIS_PREFIX: schema,
        HOST: '127.0.0.1',
        PORT: String(port),
        LOG_LEVEL: 'warn',
        HEALTH_PROBES_ENABLED: 'false',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    return { child, output: () => output };
  }

  function exitOf(child: ChildProcess): Promise<number | null> {
    if (child.exitCode !== null) {
      return Promise.resolve(child.exitCode);
    }
    return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  it('waits for it, then starts and serves', async () => {
    redis.port = await freePort();
    const port = await freePort();
    const { child, output } = start('api-gateway', redis.url, port);
    // Not up for the first attempts: the app must still be there, waiting, when Redis comes.
    await waitFor(() => output().includes('cannot be reached'), { timeoutMs: 30_000, message: 'no waiting line' });
    await sleep(500);
    expect({ exitCode: child.exitCode, output: output() }).toEqual({ exitCode: null, output: expect.any(String) });
    await redis.start();
    await waitFor(
      async () => {
        const res = await fetch(`http://127.0.0.1:${port}/health/ready`).catch(() => null);
        return res?.status === 200;
      },
      { timeoutMs: 30_000, message: `the gateway did not become ready:\n${output()}` },
    );
    expect(output()).toMatch(
      new RegExp(`Redis at 127\\.0\\.0\\.1:${redis.port} cannot be reached \\(.*\\); trying again in 2000 ms`),
    );
    expect(output()).not.toMatch(/failed to start|\n\s+at /);
    child.kill('SIGTERM');
    expect(await exitOf(child)).toBe(0);
  }, 60_000);

  it('never up: one line per attempt, then one naming REDIS_URL, and no credentials', async () => {
    const closed = await freePort();
    const { child, output } = start('router-worker', `redis://user:rd-s3cret@127.0.0.1:${closed}/0`, await freePort());
    expect(await exitOf(child)).toBe(1);
    const lines = output()
      .split('\n')
      .filter((l) => l.trim() !== '');
    expect(lines.filter((l) => l.includes('trying again'))).toHaveLength(4);
    expect(lines.at(-1)).toBe(
      `[router-worker] failed to start: Redis at 127.0.0.1:${closed} cannot be reached ` +
        `(connect ECONNREFUSED 127.0.0.1:${closed}): check REDIS_URL and that Redis is up`,
    );
    expect(output()).not.toContain('rd-s3cret');
    expect(output()).not.toMatch(/\n\s+at /);
  }, 60_000);
});

/**
 * A Redis that refuses REDIS_URL's credentials (a wrong password, an ACL user that does not exist): the boot probe
 * stops the start at once, in one line naming the variable. Left to the apps' own connections, each gave up in its own
 * way: "failed to start: Connection is closed." (or the ReplyError), a second hint line, and the stacks.
 */
describe('an app whose Redis refuses the login', () => {
  const schema = uniqueId('redislogin');
  const redis = new PrivateRedis(['--requirepass', 'right-pw']);

  beforeAll(async () => {
    await redis.start();
  });

  afterAll(async () => {
    await redis.stop();
    await dropSchema(TEST_DATABASE_URL, schema);
  });

  it.each(['api-gateway', 'router-worker', 'health-monitor', 'all-in-one'])(
    '%s exits 1 with one line naming REDIS_URL, without the password or a stack',
    async (app) => {
      const url = `redis://:rd-s3cret-wrong@127.0.0.1:${redis.port}/0`;
      const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'apps', app, 'src', 'main.js')], {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH ?? '',
          NODE_ENV: 'test',
          DATABASE_URL: TEST_DATABASE_URL,
          DATABASE_SCHEMA: schema,
          REDIS_URL: url,
          REDIS_PREFIX: schema,
          HOST: '127.0.0.1',
          PORT: String(await freePort()),
          LOG_LEVEL: 'warn',
          HEALTH_PROBES_ENABLED: 'false',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      expect(code).toBe(1);
      expect(output.trim().split('\n')).toEqual([
        `[${app}] failed to start: Redis at 127.0.0.1:${redis.port} refused the login: check the user and password ` +
          "in REDIS_URL (redis://user:password@host:port/db; a password alone logs in as Redis's default user)",
      ]);
    },
    30_000,
  );
});
