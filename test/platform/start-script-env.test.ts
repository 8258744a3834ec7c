import { execFile, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { freePort, TEST_REDIS_URL } from '@aigw/testing';

const ROOT = join(__dirname, '../..');

/**
 * `npm start`'s own variables are checked before it installs, builds or starts anything: WORKERS=two was NaN, which
 * started no router-worker at all, and the script still said the gateway was up (every request then waited for its
 * deadline).
 */
describe('npm start refuses its own variables when they are no usable integer', () => {
  it.each([
    ['WORKERS', 'two', 'WORKERS must be an integer from 1 to 64, got "two"'],
    ['WORKERS', '0', 'WORKERS must be an integer from 1 to 64, got "0"'],
    ['PORT', '3000x', 'PORT must be an integer from 1 to 65535, got "3000x"'],
    ['MONITOR_PORT', '-1', 'MONITOR_PORT must be an integer from 1 to 65535, got "-1"'],
    ['PORT', '65530', 'PORT=65530 leaves no port for router-worker 2 (PORT+1+10*(WORKERS-1))'],
    // Number('abc') was NaN (net.connect threw after the build) and Number('0') a simulator on a random port while
    // the catalog pointed at :0.
    ['SIM_PORT', 'abc', 'SIM_PORT must be an integer from 1 to 65535, got "abc"'],
    ['SIM_PORT', '0', 'SIM_PORT must be an integer from 1 to 65535, got "0"'],
  ])('%s=%j', (name, value, message) => {
    const run = spawnSync(process.execPath, [join(ROOT, 'scripts', 'start.mjs')], {
      cwd: ROOT,
      // Redis on a closed port: were the variable not refused first, the script would stop at its Redis check
      // rather than build and start the system on the machine's own services.
      env: { PATH: process.env.PATH ?? '', REDIS_URL: 'redis://127.0.0.1:1/0', [name]: value },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect({ status: run.status, stderr: run.stderr, stdout: run.stdout }).toEqual({
      status: 1,
      stderr: `npm start: ${message}\n`,
      stdout: '',
    });
  });
});

/**
 * A port `npm start` would hand out that something else holds is named with the variable that moves it, before
 * anything is built or started: the health-monitor, which only knows its own PORT, said `set PORT` when MONITOR_PORT
 * was the port in use.
 */
describe('npm start refuses a port it would hand out that is taken', () => {
  let held: Server | undefined;

  afterEach(async () => {
    await new Promise<void>((resolve) => (held ? held.close(() => resolve()) : resolve()));
    held = undefined;
  });

  async function hold(): Promise<number> {
    const server = createServer();
    held = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  /** The script's exit code and output (not spawnSync: this process holds the port and must go on accepting). */
  function start(vars: Record<string, string>): Promise<{ status: number | null; stderr: string; stdout: string }> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [join(ROOT, 'scripts', 'start.mjs')],
        // Redis on a closed port, as above: were the port not refused first, the script would stop at its Redis check.
        {
          cwd: ROOT,
          env: { PATH: process.env.PATH ?? '', REDIS_URL: 'redis://127.0.0.1:1/0', ...vars },
          timeout: 30_000,
        },
        (err, stdout, stderr) => resolve({ status: err === null ? 0 : (err.code as number | null), stderr, stdout }),
      );
    });
  }

  it('names MONITOR_PORT when the health-monitor port is taken', async () => {
    const port = await hold();
    const run = await start({ PORT: String(await freePort()), WORKERS: '1', MONITOR_PORT: String(port) });
    expect(run).toEqual({
      status: 1,
      stderr: `npm start: port ${port}, the health-monitor's, is already in use: set MONITOR_PORT to a free port, or stop what listens there\n`,
      stdout: '',
    });
  });

  it("names PORT when a router-worker's port (PORT+1) is taken", async () => {
    const port = await hold();
    const run = await start({ PORT: String(port - 1), WORKERS: '1', MONITOR_PORT: String(await freePort()) });
    expect(run.stderr).toBe(
      `npm start: port ${port}, router-worker 1 (PORT+1)'s, is already in use: set PORT to a free port, or stop what listens there\n`,
    );
  });

  it('names MONITOR_PORT when it is a port the script gives another app', async () => {
    const port = await freePort();
    const run = await start({ PORT: String(port), MONITOR_PORT: String(port + 1) });
    expect(run.stderr).toBe(
      `npm start: port ${port + 1} is both router-worker 1 (PORT+1)'s and the health-monitor's: set MONITOR_PORT to another\n`,
    );
  });
});

/**
 * Redis or PostgreSQL that `npm start` cannot use stops it in one line naming the variable, before it builds or starts
 * anything. A REDIS_URL or DATABASE_URL that is no URL (a password with a `/` in it, as base64 ones have) was
 * Node's uncaught `TypeError: Invalid URL` with its stack and `input: '<the whole URL>'`: the password, in the
 * terminal and in any log of it, and no word of which variable or what to do. A service that was down was a stack too.
 */
describe('npm start names the variable of a service it cannot use, in one line, never echoing its URL', () => {
  async function start(
    vars: Record<string, string>,
  ): Promise<{ status: number | null; stderr: string; stdout: string }> {
    // Ports of their own, so that the port checks pass whatever else runs on this machine.
    const ports = { PORT: String(await freePort()), MONITOR_PORT: String(await freePort()), WORKERS: '1' };
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [join(ROOT, 'scripts', 'start.mjs')],
        { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...ports, ...vars }, timeout: 30_000 },
        (err, stdout, stderr) => resolve({ status: err === null ? 0 : (err.code as number | null), stderr, stdout }),
      );
    });
  }

  const hint = '; percent-encode the characters % @ : / # ? in the user and password, e.g. % as %25, # as %23';

  it('REDIS_URL with a password that is not percent-encoded', async () => {
    const run = await start({ REDIS_URL: 'redis://:s3cr/et-pw@127.0.0.1:1/0' });
    expect(run).toEqual({
      status: 1,
      stderr: `npm start: REDIS_URL is not a valid URL (expected redis://[user:password@]host:port/db${hint})\n`,
      stdout: '',
    });
  });

  it('DATABASE_URL with a password that is not percent-encoded', async () => {
    // A Redis that is up: the DATABASE_URL is looked at after it.
    const run = await start({ REDIS_URL: TEST_REDIS_URL, DATABASE_URL: 'postgres://app:s3cr/et-pw@127.0.0.1:1/db' });
    expect(run).toEqual({
      status: 1,
      stderr: `npm start: DATABASE_URL is not a valid URL (expected postgres://user:password@host:port/database${hint})\n`,
      stdout: '',
    });
  });

  it('Redis not reachable', async () => {
    const closed = await freePort();
    const run = await start({ REDIS_URL: `redis://:s3cret@127.0.0.1:${closed}/0` });
    expect(run).toEqual({
      status: 1,
      stderr:
        `npm start: Redis is not reachable at 127.0.0.1:${closed} (REDIS_URL): start it, or set REDIS_URL to ` +
        'where it runs\n',
      stdout: '',
    });
  });

  it('PostgreSQL not reachable', async () => {
    const closed = await freePort();
    const run = await start({
      REDIS_URL: TEST_REDIS_URL,
      DATABASE_URL: `postgres://app:s3cret@127.0.0.1:${closed}/db`,
    });
    expect(run).toEqual({
      status: 1,
      stderr:
        `npm start: PostgreSQL is not reachable at 127.0.0.1:${closed} (DATABASE_URL): start it, or set ` +
        'DATABASE_URL to where it runs\n',
      stdout: '',
    });
  });
});
