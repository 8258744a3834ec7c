import { execFile } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { TEST_DATABASE_URL, TEST_REDIS_URL, uniqueId } from '@aigw/testing';

const ROOT = join(__dirname, '../..');

/**
 * `npm test` with these TEST_* variables. `--listTests` goes on to jest: were the preflight to let a run through, jest
 * would only list the suites, never run them.
 */
function npmTest(vars: Record<string, string>): Promise<{ status: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(ROOT, 'scripts', 'test.mjs'), '--listTests'],
      {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', TEST_REDIS_URL, TEST_DATABASE_URL, ...vars },
        timeout: 60_000,
      },
      (err, stdout, stderr) => resolve({ status: err === null ? 0 : (err.code as number | null), stderr, stdout }),
    );
  });
}

/** `TEST_DATABASE_URL` with another user, password or database. */
function databaseUrl(user: string, password: string, database: string): string {
  const u = new URL(TEST_DATABASE_URL);
  u.username = user;
  u.password = password;
  u.pathname = `/${database}`;
  return u.toString();
}

/**
 * `npm test` checked only that something accepted connections on the Redis and PostgreSQL ports. A database `test`
 * that nobody had created (a stock PostgreSQL has only `postgres`), a user PostgreSQL refuses, or something on the
 * Redis port that is not a Redis it can use, went on to run every suite: hundreds of failures, none saying why. It now
 * stops before building or running anything, in one line saying what to do, never echoing the URL's password.
 */
describe('npm test: Redis answers PING and the test database opens a session, before anything runs', () => {
  let silent: Server | undefined;
  const sockets: Socket[] = [];

  afterEach(async () => {
    for (const socket of sockets.splice(0)) {
      socket.destroy();
    }
    await new Promise<void>((resolve) => (silent ? silent.close(() => resolve()) : resolve()));
    silent = undefined;
  });

  it('the database does not exist: says how to create it', async () => {
    const missing = uniqueId('aigw_missing');
    const url = new URL(TEST_DATABASE_URL);
    const host = url.hostname;
    const port = url.port || '5432';
    const user = decodeURIComponent(url.username) || 'postgres';
    const run = await npmTest({ TEST_DATABASE_URL: databaseUrl(user, 's3cret-pw', missing) });
    expect(run).toEqual({
      status: 1,
      stderr:
        `npm test: PostgreSQL at ${host}:${port} (TEST_DATABASE_URL) has no database "${missing}": create it once ` +
        `with \`createdb -h ${host} -p ${port} -U ${user} ${missing}\`, or set TEST_DATABASE_URL to a database that ` +
        'exists\n',
      stdout: '',
    });
  });

  it('a user PostgreSQL refuses: names the user and the variable', async () => {
    const nobody = uniqueId('nobody');
    const run = await npmTest({ TEST_DATABASE_URL: databaseUrl(nobody, 's3cret-pw', 'test') });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(
      new RegExp(
        `^npm test: PostgreSQL at [^ ]+ \\(TEST_DATABASE_URL\\) refused the login of user "${nobody}" to database ` +
          '"test" \\(.+\\): check the user and password of TEST_DATABASE_URL\\n$',
      ),
    );
    expect(run.stderr).not.toContain('s3cret-pw');
    expect(run.stdout).toBe('');
  });

  it('a Redis database index it refuses', async () => {
    const u = new URL(TEST_REDIS_URL);
    u.pathname = '/999';
    const run = await npmTest({ TEST_REDIS_URL: u.toString() });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^npm test: Redis at [^ ]+ \(TEST_REDIS_URL\) did not answer PING: .*DB index.*\n$/);
    expect(run.stdout).toBe('');
  });

  it('something on the Redis port that never answers', async () => {
    const server = createServer((socket) => sockets.push(socket));
    silent = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const run = await npmTest({ TEST_REDIS_URL: `redis://:s3cret-pw@127.0.0.1:${port}/0` });
    expect(run).toEqual({
      status: 1,
      stderr:
        `npm test: Redis at 127.0.0.1:${port} (TEST_REDIS_URL) did not answer PING: no answer within 3 s; check that ` +
        'it is Redis, and the password and database of TEST_REDIS_URL, or set TEST_REDIS_URL to a Redis that answers\n',
      stdout: '',
    });
  });

  it('both usable: the run goes on (to jest, here listing the suites)', async () => {
    const run = await npmTest({});
    expect(run.stderr).not.toContain('npm test:');
    expect(run.stdout).toContain('start-script-migrations.test.ts');
  });
});
