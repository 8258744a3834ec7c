#!/usr/bin/env node
// `npm start`: the whole system on one machine. Installs and builds what is missing, starts the
// provider simulator when no PROVIDERS_FILE is given, runs the database migrations (START_MIGRATE_TIMEOUT_S), then
// starts the api-gateway, router-worker(s) and health-monitor, waits until all are ready (START_READY_TIMEOUT_S, counted
// from the migrations' end) and prints how to call the gateway. Ctrl-C stops everything gracefully; so does this script's end however it comes (kill -9, a
// crash): each process it starts watches it (exit-with-parent.cjs).
// `npm start -- --single`: the same, with the api-gateway, one router-worker and the health-monitor
// hosted by one all-in-one process (ADR 0010).
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { build, canConnect, ensureDependencies, requireService, root, spawnChild, StartError } from './lib.mjs';

const env = { ...process.env };
env.REDIS_URL ??= 'redis://127.0.0.1:6379/0';
env.DATABASE_URL ??= 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * An integer variable of this script, unset or blank: `fallback`. Anything else but an integer in [min, max] stops
 * here naming it: `Number('two')` is NaN, and WORKERS=two (or 0) started no router-worker at all, so every request
 * waited for its deadline while the script said the gateway was up.
 */
function intVar(name, fallback, min, max) {
  const text = env[name]?.trim() ?? '';
  if (text === '') {
    return fallback;
  }
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) {
    console.error(`npm start: ${name} must be an integer from ${min} to ${max}, got "${env[name]}"`);
    process.exit(1);
  }
  return value;
}

const single = process.argv.slice(2).includes('--single');
const gatewayPort = intVar('PORT', 3000, 1, 65535);
const workers = single ? 1 : intVar('WORKERS', 2, 1, 64);
// Ops ports next to the gateway's, so a second checkout started with another PORT takes none of the first's:
// router-worker i (1-based) on PORT+1+10(i-1) (3001, 3011, ...), the health-monitor on MONITOR_PORT, else PORT+2.
const workerPort = (i) => gatewayPort + 1 + (i - 1) * 10;
const monitorPort = intVar('MONITOR_PORT', gatewayPort + 2, 1, 65535);
// The provider simulator's, when it runs (no PROVIDERS_FILE, no provider variable). Number('') was 0: the simulator
// took a random port while the catalog pointed at :0, and every request failed.
const simPort = intVar('SIM_PORT', 9100, 1, 65535);
// Budgets of their own: the migrations (a first start creates every table; an upgrade may backfill, or wait for another
// process migrating the same schema), then the started processes' readiness, counted from the migrations' end. One
// budget for both declared a slow first start failed, and stopped it, although it would have come up.
const migrateSeconds = intVar('START_MIGRATE_TIMEOUT_S', 600, 1, 86400);
const readySeconds = intVar('START_READY_TIMEOUT_S', 60, 1, 3600);
if (!single && workerPort(workers) > 65535) {
  console.error(`npm start: PORT=${gatewayPort} leaves no port for router-worker ${workers} (PORT+1+10*(WORKERS-1))`);
  process.exit(1);
}

/**
 * The ports this script hands out, each with the variable an operator changes to move it, checked before anything
 * is built or started. An app that finds its port taken can only name its own PORT: the health-monitor's is
 * MONITOR_PORT here, and told to set PORT the operator moved the gateway and workers and met the same error again.
 */
const monitorPortSet = (env.MONITOR_PORT?.trim() ?? '') !== '';
const handedOut = single
  ? [{ port: gatewayPort, app: 'the all-in-one process', variable: 'PORT' }]
  : [
      { port: gatewayPort, app: 'the api-gateway', variable: 'PORT' },
      ...Array.from({ length: workers }, (_, k) => ({
        port: workerPort(k + 1),
        app: `router-worker ${k + 1} (PORT+${1 + 10 * k})`,
        variable: 'PORT',
      })),
      {
        port: monitorPort,
        app: `the health-monitor${monitorPortSet ? '' : ' (PORT+2)'}`,
        variable: monitorPortSet ? 'MONITOR_PORT' : 'MONITOR_PORT (or PORT)',
      },
    ];
for (const [i, { port, app, variable }] of handedOut.entries()) {
  const first = handedOut.findIndex((other) => other.port === port);
  if (first !== i) {
    console.error(`npm start: port ${port} is both ${handedOut[first].app}'s and ${app}'s: set ${variable} to another`);
    process.exit(1);
  }
}
const taken = await Promise.all(handedOut.map(({ port }) => canConnect('127.0.0.1', port, 300)));
for (const [i, { port, app, variable }] of handedOut.entries()) {
  if (taken[i]) {
    console.error(
      `npm start: port ${port}, ${app}'s, is already in use: set ${variable} to a free port, or stop what listens there`,
    );
    process.exit(1);
  }
}

try {
  ensureDependencies();
  await requireService('Redis', 'REDIS_URL', env.REDIS_URL, 6379, 'redis://[user:password@]host:port/db');
  await requireService(
    'PostgreSQL',
    'DATABASE_URL',
    env.DATABASE_URL,
    5432,
    'postgres://user:password@host:port/database',
  );
  build();
} catch (err) {
  // A reason of ours in one line, as the checks above print theirs; anything else (a bug of this script) with its stack.
  console.error(err instanceof StartError ? `npm start: ${err.message}` : err);
  process.exit(1);
}

// A stable development admin key, kept out of git, so restarts keep the same key.
const localDir = path.join(root, '.local');
const keyFile = path.join(localDir, 'admin-key');
if (!env.BOOTSTRAP_ADMIN_KEY) {
  if (!existsSync(keyFile)) {
    mkdirSync(localDir, { recursive: true });
    writeFileSync(keyFile, `sk-aigw-dev-${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });
  }
  env.BOOTSTRAP_ADMIN_KEY = readFileSync(keyFile, 'utf8').trim();
}

const children = [];
let stopping = false;
async function stopAll(code) {
  if (stopping) {
    return;
  }
  stopping = true;
  for (const c of children) {
    c.kill('SIGTERM');
  }
  // One a signal stopped has no exit code, only a signalCode: waiting for its 'exit', long gone, never ended.
  await Promise.all(
    children.map((c) => (c.exitCode !== null || c.signalCode !== null ? null : new Promise((r) => c.once('exit', r)))),
  );
  process.exit(code);
}
process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

/** Prints a child's output line by line, each line led by `prefix`. */
function relay(child, prefix) {
  for (const stream of [child.stdout, child.stderr]) {
    let buf = '';
    stream.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        process.stdout.write(`${prefix} ${buf.slice(0, i)}\n`);
        buf = buf.slice(i + 1);
      }
    });
  }
}

function start(name, script, extraEnv = {}) {
  const child = spawnChild(script, { ...env, ...extraEnv });
  const prefix = `[${name}]`.padEnd(18);
  relay(child, prefix);
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`${prefix} exited (${signal ?? code}); stopping everything`);
      void stopAll(1);
    }
  });
  children.push(child);
  return child;
}

// Provider variables (OPENAI_API_KEY, OLLAMA_BASE_URL, ...) register real providers (see libs/core provider-env);
// the simulator's catalog is the default only when neither they nor PROVIDERS_FILE are set.
const { providerVariablesSet } = createRequire(import.meta.url)(path.join(root, 'dist/libs/core/src/index.js'));
const providerVariables = providerVariablesSet(env);
if (!env.PROVIDERS_FILE && providerVariables.length > 0) {
  console.log(`registering providers from ${providerVariables.join(', ')} (no PROVIDERS_FILE)`);
}
let simulatorUrl = null;
if (!env.PROVIDERS_FILE && providerVariables.length === 0) {
  const other = handedOut.find(({ port }) => port === simPort);
  if (other !== undefined) {
    console.error(
      `npm start: port ${simPort} is both ${other.app}'s and the provider simulator's: set SIM_PORT to another`,
    );
    process.exit(1);
  }
  if (await canConnect('127.0.0.1', simPort, 300)) {
    console.error(
      `npm start: port ${simPort}, the provider simulator's, is already in use: set SIM_PORT to a free port, or stop what listens there`,
    );
    process.exit(1);
  }
  simulatorUrl = `http://127.0.0.1:${simPort}`;
  env.SIM_URL = simulatorUrl;
  env.PROVIDERS_FILE = path.join(root, 'config', 'providers.simulator.yaml');
}

/**
 * Runs the pending migrations (`npm run migration:run`, under the apps' advisory lock) within START_MIGRATE_TIMEOUT_S,
 * its output led by `[migrate]`. The apps then start with DB_SKIP_MIGRATIONS=true: they find the schema up to date
 * (and would refuse to start on one that is not), so their readiness wait is their start alone.
 */
async function migrate() {
  console.log('> migrating the database');
  const child = spawnChild('dist/libs/entities/src/cli/migrate.js', env);
  relay(child, '[migrate]'.padEnd(18));
  children.push(child);
  let timer;
  const timedOut = new Promise((resolve) => {
    timer = setTimeout(() => resolve('timeout'), migrateSeconds * 1000);
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  const outcome = await Promise.race([exited, timedOut]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    // Stopped mid-migration, PostgreSQL rolls the running one back (each runs in its own transaction) and frees the lock.
    child.kill('SIGTERM');
    await exited;
  }
  children.splice(children.indexOf(child), 1);
  if (outcome === 'timeout') {
    throw new StartError(
      `the database migrations did not finish within ${migrateSeconds} s (START_MIGRATE_TIMEOUT_S): their output is ` +
        'above (a line "waiting for the migration lock" names the process holding it); raise START_MIGRATE_TIMEOUT_S, ' +
        'or run them alone with `npm run migration:run`',
    );
  }
  if (outcome !== 0) {
    throw new StartError(`the database migrations failed (${outcome}): the reason is above, led by [migrate]`);
  }
}

try {
  await migrate();
} catch (err) {
  if (stopping) {
    // Ctrl-C meanwhile: stopAll ends the script.
    await new Promise(() => undefined);
  }
  console.error(err instanceof StartError ? `npm start: ${err.message}` : err);
  await stopAll(1);
}
env.DB_SKIP_MIGRATIONS = 'true';

if (simulatorUrl !== null) {
  start('simulator', 'dist/tools/simulator/main.js', {
    SIM_PORT: String(simPort),
    SIM_LATENCY_MS: env.SIM_LATENCY_MS ?? '150',
    SIM_CHUNK_DELAY_MS: env.SIM_CHUNK_DELAY_MS ?? '20',
  });
}

if (single) {
  start('all-in-one', 'dist/apps/all-in-one/src/main.js', {
    PORT: String(gatewayPort),
    ALL_IN_ONE_MONITOR: env.ALL_IN_ONE_MONITOR ?? 'true',
  });
} else {
  start('api-gateway', 'dist/apps/api-gateway/src/main.js', { PORT: String(gatewayPort) });
  for (let i = 1; i <= workers; i++) {
    start(`router-worker-${i}`, 'dist/apps/router-worker/src/main.js', { PORT: String(workerPort(i)) });
  }
  start('health-monitor', 'dist/apps/health-monitor/src/main.js', { PORT: String(monitorPort) });
}

async function ready(app, port, deadline) {
  const url = `http://127.0.0.1:${port}/health/ready`;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(url);
      if (r.ok) {
        return;
      }
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new StartError(
    `${app} (${url}) was not ready within ${readySeconds} s of the migrations' end (START_READY_TIMEOUT_S): its ` +
      'output is above; raise START_READY_TIMEOUT_S if it was still starting',
  );
}

try {
  const deadline = Date.now() + readySeconds * 1000;
  // In one process, the gateway's readiness includes the hosted worker's and monitor's.
  await ready(single ? 'the all-in-one process' : 'the api-gateway', gatewayPort, deadline);
  if (!single) {
    for (let i = 1; i <= workers; i++) {
      await ready(`router-worker ${i}`, workerPort(i), deadline);
    }
    await ready('the health-monitor', monitorPort, deadline);
  }
} catch (err) {
  console.error(err instanceof StartError ? `npm start: ${err.message}` : err);
  await stopAll(1);
}

const base = `http://127.0.0.1:${gatewayPort}`;
const model = simulatorUrl ? 'sim-gpt' : '<provider-id>/<model>';
console.log(`
AI gateway is up: ${base}   (${single ? 'one process: api-gateway + router-worker + health-monitor' : `${workers} router-workers, health-monitor on :${monitorPort}`})
${simulatorUrl ? `Provider: the built-in SIMULATOR at ${simulatorUrl} (set PROVIDERS_FILE to use real providers)\n` : ''}Admin API key: ${env.BOOTSTRAP_ADMIN_KEY}   (more keys: npm run keys -- create --user alice)

  curl ${base}/v1/chat/completions \\
    -H "Authorization: Bearer ${env.BOOTSTRAP_ADMIN_KEY}" -H 'content-type: application/json' \\
    -d '{"model":"${model}","messages":[{"role":"user","content":"Hello!"}]}'

OpenAI SDK: new OpenAI({ baseURL: '${base}/v1', apiKey: '<key>' })
Metrics: ${base}/metrics   Health: ${base}/health/ready   Ctrl-C stops everything.
`);
