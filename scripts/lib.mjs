// Shared helpers for the quickstart scripts. Plain Node (no dependencies): they run before `npm ci`, except the two
// preflight checks that say so (requireRedisPing, requirePostgresSession), called after `ensureDependencies`.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * A reason the script stops that says all the operator needs (what is wrong, the variable to fix): printed as its
 * message alone, without a stack, as the apps print theirs (StartupError).
 */
export class StartError extends Error {}

export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
  if (r.status !== 0) {
    // What it printed is above; `r.error` is a command that could not be run at all (npm not on PATH).
    const how = r.error ? r.error.message : r.signal ? `stopped by ${r.signal}` : `exit code ${r.status}`;
    throw new StartError(`\`${cmd} ${args.join(' ')}\` failed (${how})`);
  }
}

/** Installs dependencies when node_modules is missing or older than the lock file. */
export function ensureDependencies() {
  const marker = path.join(root, 'node_modules', '.package-lock.json');
  const lock = path.join(root, 'package-lock.json');
  if (!existsSync(marker) || statSync(marker).mtimeMs < statSync(lock).mtimeMs) {
    console.log('> installing dependencies (npm ci)');
    run('npm', ['ci', '--no-audit', '--no-fund']);
  }
}

/**
 * What `npm run build` reads (tsconfig.build.json's `include`, the console's vite build under apps/console, the
 * compiler settings and the installed dependencies' versions) and what it must have written.
 */
export const BUILD_INPUTS = [
  'apps',
  'libs',
  'tools',
  'package.json',
  'package-lock.json',
  'tsconfig.json',
  'tsconfig.build.json',
];
export const BUILD_OUTPUTS = [
  'dist/apps/api-gateway/src/main.js',
  'dist/apps/router-worker/src/main.js',
  'dist/apps/health-monitor/src/main.js',
  'dist/apps/all-in-one/src/main.js',
  'dist/tools/simulator/main.js',
  'dist/libs/entities/src/cli/migrate.js',
  'dist/console/index.html',
];
/** Written after a build that succeeded: the inputs' fingerprint as they were when it began. */
export const BUILD_STAMP = 'dist/.build-stamp';

/**
 * A hash of every input file's path, size and modification time (specs left out: no build reads them). Any edit, a file
 * added, removed or renamed, or one put back to an older version (a `git checkout`) changes it; reading it stats a few
 * hundred files, a few milliseconds.
 */
export function buildFingerprint(dir = root, inputs = BUILD_INPUTS) {
  const hash = createHash('sha256');
  const visit = (rel) => {
    let st;
    try {
      st = statSync(path.join(dir, rel));
    } catch {
      hash.update(`${rel}\0missing\n`);
      return;
    }
    if (st.isDirectory()) {
      for (const name of readdirSync(path.join(dir, rel)).sort()) {
        if (name !== 'node_modules' && name !== 'dist' && !/\.spec\.tsx?$/.test(name)) {
          visit(`${rel}/${name}`);
        }
      }
    } else {
      hash.update(`${rel}\0${st.size}\0${st.mtimeMs}\n`);
    }
  };
  for (const input of inputs) {
    visit(input);
  }
  return hash.digest('hex');
}

/**
 * Builds (`npm run build`) unless dist is up to date: every output there and the stamp of the last build that
 * succeeded matching the inputs as they are now. The stamp goes before a build and comes back only once it succeeded,
 * with the fingerprint taken before it began: a build that failed or was stopped midway, or a source edited while it
 * ran, builds again next time. Every `npm start` and `npm test` rebuilt, unchanged sources or not.
 * The parameters are for tests: this checkout and its build otherwise.
 */
export function build({
  dir = root,
  inputs = BUILD_INPUTS,
  outputs = BUILD_OUTPUTS,
  command = ['npm', ['run', '--silent', 'build']],
} = {}) {
  const stamp = path.join(dir, BUILD_STAMP);
  const fingerprint = buildFingerprint(dir, inputs);
  let built = null;
  try {
    built = readFileSync(stamp, 'utf8').trim();
  } catch {
    // never built here, or the last build did not succeed
  }
  if (built === fingerprint && outputs.every((file) => existsSync(path.join(dir, file)))) {
    console.log('> dist is up to date (no source changed since the last build)');
    return;
  }
  console.log('> building (tsc, vite)');
  rmSync(stamp, { force: true });
  run(command[0], command[1], { cwd: dir });
  writeFileSync(stamp, `${fingerprint}\n`);
}

export function canConnect(host, port, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** As the apps say it (libs/core redis-url.ts, libs/entities database-env.ts). */
const ENCODE_HINT = '; percent-encode the characters % @ : / # ? in the user and password, e.g. % as %25, # as %23';

/**
 * Stops the start unless something accepts connections at `variable`'s URL. A URL that is not one is named by its
 * variable and never echoed: Node's own `Invalid URL` error carries the whole input, password and all (a password
 * with a `/`, as base64 ones have, is enough).
 */
export async function requireService(name, variable, url, defaultPort, form) {
  let u;
  try {
    u = new URL(url);
  } catch {
    throw new StartError(`${variable} is not a valid URL (expected ${form}${ENCODE_HINT})`);
  }
  const host = u.hostname || '127.0.0.1';
  const port = Number(u.port || defaultPort);
  if (!(await canConnect(host, port))) {
    throw new StartError(
      `${name} is not reachable at ${host}:${port} (${variable}): start it, or set ${variable} to where it runs`,
    );
  }
}

/**
 * Starts `script` (a path under the root) with node, its output piped to the caller, as `npm start` starts each
 * process. It stops, gracefully, once the caller is gone however it went (exit-with-parent.cjs): stdin is the pipe
 * that tells it. The caller must keep `child.stdin` open (never end it) while it wants the child to run.
 */
export function spawnChild(script, env) {
  return spawn(
    process.execPath,
    ['--require', path.join(root, 'scripts', 'exit-with-parent.cjs'), path.join(root, script)],
    { cwd: root, env, stdio: ['pipe', 'pipe', 'pipe'] },
  );
}

const PREFLIGHT_MS = 3000;

/** `promise`, or a StartError saying `what` once PREFLIGHT_MS passed without it settling. */
function within(promise, what) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${PREFLIGHT_MS / 1000} s`)), PREFLIGHT_MS);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/**
 * Stops unless the Redis at `variable`'s URL answers PING (with the URL's password and database): something else on
 * the port, a password it refuses or a database index out of range pass a TCP check and failed every suite instead.
 * Needs the dependencies (ioredis): call it after `ensureDependencies`. The URL is never echoed, only its host and port.
 */
export async function requireRedisPing(variable, url) {
  const { Redis } = createRequire(import.meta.url)(path.join(root, 'node_modules', 'ioredis'));
  const u = new URL(url);
  const where = `${u.hostname}:${u.port || 6379}`;
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: PREFLIGHT_MS,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined);
  try {
    await within(
      // ioredis selects the URL's database once connected, but only reports a refusal as an event: asked here.
      redis
        .connect()
        .then(() => redis.select(Number(u.pathname.slice(1)) || 0))
        .then(() => redis.ping()),
      'no answer',
    );
  } catch (err) {
    throw new StartError(
      `Redis at ${where} (${variable}) did not answer PING: ${err.message.trim()}; check that it is Redis, and the ` +
        `password and database of ${variable}, or set ${variable} to a Redis that answers`,
    );
  } finally {
    redis.disconnect();
  }
}

/**
 * Stops unless a PostgreSQL session opens on `variable`'s URL (its database and login) and answers `SELECT 1`: a
 * database that does not exist (the test suites' `test`, which a stock PostgreSQL lacks) passed a TCP check and made
 * every suite that uses PostgreSQL fail with `database "test" does not exist`. Needs the dependencies (pg). The URL is
 * never echoed: its host, port, user and database are.
 */
export async function requirePostgresSession(variable, url) {
  const { Client } = createRequire(import.meta.url)(path.join(root, 'node_modules', 'pg'));
  const u = new URL(url);
  const host = u.hostname || '127.0.0.1';
  const port = u.port || '5432';
  const user = decodeURIComponent(u.username) || 'postgres';
  const database = decodeURIComponent(u.pathname.slice(1)) || user;
  const client = new Client({ connectionString: url, connectionTimeoutMillis: PREFLIGHT_MS });
  client.on('error', () => undefined);
  try {
    await within(
      client.connect().then(() => client.query('SELECT 1')),
      'no answer',
    );
  } catch (err) {
    const where = `PostgreSQL at ${host}:${port} (${variable})`;
    if (err.code === '3D000') {
      throw new StartError(
        `${where} has no database "${database}": create it once with \`createdb -h ${host} -p ${port} -U ${user} ` +
          `${database}\`, or set ${variable} to a database that exists`,
      );
    }
    if (err.code === '28P01' || err.code === '28000') {
      throw new StartError(
        `${where} refused the login of user "${user}" to database "${database}" (${err.message.trim()}): check the ` +
          `user and password of ${variable}`,
      );
    }
    throw new StartError(
      `${where} could not open a session on database "${database}": ${err.message.trim()}; check ${variable}`,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}
