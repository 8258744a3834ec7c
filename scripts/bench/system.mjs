// Starts the system under test for the bench: the provider simulator (client CPU) and the gateway
// side (gateway CPU): api-gateway, router-worker and a dedicated Redis, with a throw-away
// PostgreSQL schema. `--topology single` runs the api-gateway and router-worker as one all-in-one
// process instead (ADR 0010). `--stand-in FILE` replaces the gateway side with a single forwarding
// process (e.g. a null gateway) for calibration or while the real apps do not run yet.
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openPostgres } from './postgres.mjs';
import { freePort } from './processes.mjs';
import { startRedisDelay } from './redis-delay.mjs';

export const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const MODEL = 'sim-gpt';
/** The measured chat request; `stream` (`--stream`): asked as SSE, the simulator's 32 chunks in one write. */
export function chatBody(stream = false) {
  return JSON.stringify({
    model: MODEL,
    messages: [{ role: 'user', content: 'Say hello' }],
    ...(stream ? { stream } : {}),
  });
}
const DIRECT_AUTH = 'Bearer sk-bench';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns true; throws `what` with the last reason after `timeoutMs`. */
async function waitFor(what, probe, timeoutMs, proc) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (proc?.exited) {
      throw new Error(`${what}: ${proc.name} exited during start-up (see ${proc.logFile})`);
    }
    try {
      if (await probe()) {
        return;
      }
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await sleep(200);
  }
  throw new Error(`${what} not ready after ${timeoutMs / 1000}s${last ? ` (last error: ${last})` : ''}`);
}

async function httpOk(url) {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  await res.arrayBuffer();
  return res.ok;
}

function redisPing(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.setTimeout(1000, () => s.destroy(new Error('redis ping timed out')));
    s.once('error', reject);
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (d) => {
      s.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
  });
}

/** Control client for the simulator's `/_sim/*` endpoints. */
function simulatorControl(base) {
  /** The simulator's counters (`SimulatorStats`): `total`, `inFlightMs`, … */
  async function stats() {
    const res = await fetch(`${base}/_sim/stats`);
    if (!res.ok) {
      throw new Error(`simulator stats: HTTP ${res.status}`);
    }
    return res.json();
  }
  return {
    async setLatency(ms) {
      const res = await fetch(`${base}/_sim/config`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ latencyMs: ms }),
      });
      if (!res.ok) {
        throw new Error(`simulator refused latencyMs=${ms}: HTTP ${res.status} ${await res.text()}`);
      }
      await res.arrayBuffer();
    },
    /** Provider requests received so far (control endpoints are not counted). */
    async total() {
      return (await stats()).total;
    },
    stats,
  };
}

/** Served by the main simulator (cheapest, so tried first) and by the two peers: the fallback bench's model. */
export const FALLBACK_MODEL = 'fallback-model';
/** Served by the main simulator with the response cache on (the cache bench). */
export const CACHE_MODEL = 'cached-model';

function catalogYaml(simPort, peerPorts) {
  const peers = peerPorts
    .map(
      (port, i) => `  - id: peer-${i + 1}
    kind: openai
    baseUrl: http://127.0.0.1:${port}/v1
    apiKey: sk-bench
    timeoutMs: 30000
    models:
      - { name: ${FALLBACK_MODEL}, promptPer1k: ${0.002 * (i + 1)}, completionPer1k: ${0.004 * (i + 1)}, contextWindow: 8192, capabilities: [chat, streaming] }
`,
    )
    .join('');
  return `# Written by scripts/bench for one run; deleted afterwards.
providers:
  - id: sim
    kind: openai
    baseUrl: http://127.0.0.1:${simPort}/v1
    apiKey: sk-bench
    timeoutMs: 30000
    maxConnections: 256
    models:
      - name: ${MODEL}
        promptPer1k: 0.001
        completionPer1k: 0.002
        contextWindow: 8192
        # tools: the tool-stream extra bench sends function tools.
        capabilities: [chat, streaming, tools]
      - { name: ${FALLBACK_MODEL}, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192, capabilities: [chat, streaming] }
      # The cache extra's model: the response cache is on for it alone (the main table's model stays uncached).
      - { name: ${CACHE_MODEL}, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192, capabilities: [chat, streaming], cache: { enabled: true, ttlS: 3600 } }
${peers}`;
}

function requireBuilt(root, rel) {
  const file = path.join(root, rel);
  if (!existsSync(file)) {
    throw new Error(`${rel} is missing: build first (npm run build)`);
  }
  return file;
}

/**
 * Starts everything and returns the handle the measurements use. Registers its own cleanup
 * (schema drop) through `onCleanup`; processes are stopped by `group`.
 */
export async function startSystem({
  root,
  group,
  cpus,
  outDir,
  tmpDir,
  runId,
  standIn,
  topology = 'split',
  profileDir,
  survivorsDir,
  redisDelayMs = 0,
  nodeOptions = '',
  stream = false,
  onCleanup,
  log,
}) {
  // --profile: V8 CPU profiles of the api-gateway and router-worker, written when they stop.
  // --heap-survivors: the sampling heap profile of what outlives a scavenge (survivors-preload.cjs), same processes.
  // --node-options: on the apps' command line (NODE_OPTIONS refuses most V8 flags, e.g. --heap-growing-percent).
  const appArgs = nodeOptions.split(/\s+/).filter(Boolean);
  const nodeArgs = [
    ...(profileDir ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(profileDir)] : []),
    ...(survivorsDir ? ['-r', fileURLToPath(new URL('./survivors-preload.cjs', import.meta.url))] : []),
    ...appArgs,
  ];
  const simMain = requireBuilt(root, 'dist/tools/simulator/main.js');
  const body = chatBody(stream);
  const logFile = (name) => path.join(outDir, 'logs', `${name}.log`);
  const nodeEnv = { ...process.env };
  // Settings meant for the orchestrator must not leak into the apps.
  delete nodeEnv.PORT;
  delete nodeEnv.BENCH_LOADGEN;

  const simPort = await freePort();
  const simBase = `http://127.0.0.1:${simPort}`;
  const sim = group.start('simulator', {
    cpu: cpus.client,
    cmd: process.execPath,
    args: [simMain],
    env: { ...nodeEnv, SIM_PORT: String(simPort), SIM_HOST: '127.0.0.1', SIM_LATENCY_MS: '0' },
    logFile: logFile('simulator'),
  });
  await waitFor('simulator', () => httpOk(`${simBase}/health`), 15_000, sim);
  log(`simulator pid ${sim.pid} on ${simBase}`);

  const direct = { url: `${simBase}/v1/chat/completions`, body, auth: DIRECT_AUTH };
  const control = simulatorControl(simBase);

  if (standIn) {
    const gwPort = await freePort();
    const proc = group.start('stand-in', {
      cpu: cpus.gateway,
      cmd: process.execPath,
      args: [path.resolve(standIn)],
      env: { ...nodeEnv, NULL_GW_HOST: '127.0.0.1', NULL_GW_PORT: String(gwPort), UPSTREAM: simBase },
      logFile: logFile('stand-in'),
    });
    const gwBase = `http://127.0.0.1:${gwPort}`;
    await waitFor('stand-in gateway', () => portOpen(gwPort), 15_000, proc);
    log(`stand-in gateway ${standIn} pid ${proc.pid} on ${gwBase}`);
    return {
      label: `stand-in ${path.basename(standIn)}`,
      direct,
      gateway: { url: `${gwBase}/v1/chat/completions`, body, auth: DIRECT_AUTH },
      sim: control,
      gatewaySidePids: [proc.pid],
      gatewaySide: { 'stand-in': proc.pid },
      rssPids: { gateway: proc.pid },
      gatewayPid: proc.pid,
      gatewayCpu: `cpu${cpus.gateway}`,
      clientCpu: `cpu${cpus.client}`,
      simulatorPid: sim.pid,
    };
  }

  const gatewayMain = requireBuilt(root, 'dist/apps/api-gateway/src/main.js');
  const workerMain = requireBuilt(root, 'dist/apps/router-worker/src/main.js');
  const singleMain = topology === 'single' ? requireBuilt(root, 'dist/apps/all-in-one/src/main.js') : null;
  const [redisPort, gwPort, workerPort] = [await freePort(), await freePort(), await freePort()];

  const redis = group.start('redis', {
    cpu: cpus.gateway,
    cmd: 'redis-server',
    args: [
      '--port',
      String(redisPort),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--protected-mode',
      'yes',
      '--maxmemory-policy',
      'noeviction',
      '--dir',
      tmpDir,
    ],
    env: nodeEnv,
    logFile: logFile('redis'),
  });
  await waitFor('dedicated redis', () => redisPing(redisPort), 10_000, redis);
  log(`dedicated redis pid ${redis.pid} on 127.0.0.1:${redisPort}`);

  // --redis-delay: the apps reach Redis through a relay that delays each direction (the bench's own
  // INFO and MONITOR connections go straight to it).
  let appRedisPort = redisPort;
  if (redisDelayMs > 0) {
    const delay = await startRedisDelay(redisPort, redisDelayMs);
    onCleanup(() => delay.close());
    appRedisPort = delay.port;
    log(`apps reach redis through a ${redisDelayMs} ms-each-way relay on 127.0.0.1:${delay.port}`);
  }

  const schema = `bench_${runId}`;
  const db = await openPostgres(DATABASE_URL);
  // Registered before the apps start, so a failed start still drops whatever they created.
  onCleanup(async () => {
    try {
      await db.dropSchema(schema);
      log(`dropped schema ${schema}`);
    } finally {
      await db.close();
    }
  });
  // Two healthy peers for the fallback bench (idle during the main table: only sim serves its model).
  const peerPorts = [await freePort(), await freePort()];
  for (const [i, port] of peerPorts.entries()) {
    const peer = group.start(`peer-${i + 1}`, {
      cpu: cpus.client,
      cmd: process.execPath,
      args: [simMain],
      env: {
        ...nodeEnv,
        SIM_PORT: String(port),
        SIM_HOST: '127.0.0.1',
        SIM_LATENCY_MS: '0',
        SIM_NAME: `peer-${i + 1}`,
      },
      logFile: logFile(`peer-${i + 1}`),
    });
    await waitFor(`peer-${i + 1}`, () => httpOk(`http://127.0.0.1:${port}/health`), 15_000, peer);
  }
  const catalogFile = path.join(tmpDir, 'providers.bench.yaml');
  writeFileSync(catalogFile, catalogYaml(simPort, peerPorts), { mode: 0o600 });
  const adminKey = `sk-aigw-bench-${randomBytes(24).toString('base64url')}`;
  const appEnv = {
    ...nodeEnv,
    DATABASE_URL,
    DATABASE_SCHEMA: schema,
    REDIS_URL: `redis://127.0.0.1:${appRedisPort}/0`,
    REDIS_PREFIX: `bench-${runId}`,
    HOST: '127.0.0.1',
    PROVIDERS_FILE: catalogFile,
    BOOTSTRAP_ADMIN_KEY: adminKey,
    LOG_LEVEL: 'warn',
    SHUTDOWN_GRACE_MS: '3000',
    ...(survivorsDir ? { AIGW_SURVIVORS_DIR: path.resolve(survivorsDir) } : {}),
  };
  // node-postgres takes application_name from PGAPPNAME, which lets the bench find the PostgreSQL
  // backends serving these apps and report their CPU separately (they run outside the pinned set).
  const pgAppName = `aigw-bench-${runId}`;
  const gwBase = `http://127.0.0.1:${gwPort}`;
  // One all-in-one process, or the api-gateway and the router-worker: the same core either way.
  const side = singleMain
    ? await startSingle({ group, cpus, nodeArgs, singleMain, appEnv, gwPort, gwBase, pgAppName, logFile, log })
    : await startSplit({
        group,
        cpus,
        nodeArgs,
        gatewayMain,
        workerMain,
        appEnv,
        gwPort,
        workerPort,
        gwBase,
        pgAppName,
        logFile,
        log,
      });

  let replicas = 0;
  /**
   * Starts one more api-gateway or router-worker on the same Redis and database (the scaling bench), on
   * `cpu` (a taskset list such as "0,1"); resolves once it is ready. Stopped with the rest by `group`.
   */
  const spawnReplica = async (kind, cpu) => {
    const n = ++replicas;
    const port = await freePort();
    const name = `${kind}-${n + 1}`;
    const proc = group.start(name, {
      cpu,
      cmd: process.execPath,
      args: [...appArgs, kind === 'api-gateway' ? gatewayMain : workerMain],
      env: {
        ...appEnv,
        PORT: String(port),
        PGAPPNAME: `${pgAppName}-${kind === 'api-gateway' ? 'gateway' : 'worker'}`,
      },
      logFile: logFile(name),
    });
    const base = `http://127.0.0.1:${port}`;
    await waitFor(`${name} /health/ready`, () => httpOk(`${base}/health/ready`), 90_000, proc);
    return { name, pid: proc.pid, base };
  };

  return {
    label: `${side.label} + redis`,
    spawnReplica,
    direct,
    gateway: { url: `${gwBase}/v1/chat/completions`, body, auth: `Bearer ${adminKey}` },
    sim: control,
    gatewaySidePids: [...Object.values(side.pids), redis.pid],
    gatewaySide: { ...side.pids, redis: redis.pid },
    rssPids: side.rssPids,
    gatewayPid: side.gatewayPid,
    gatewayCpu: `cpu${cpus.gateway}`,
    clientCpu: `cpu${cpus.client}`,
    simulatorPid: sim.pid,
    postgresBackendPids: () => db.backendPids(pgAppName),
    redisUrl: `redis://127.0.0.1:${redisPort}/0`,
    simBase,
    peerBases: peerPorts.map((port) => `http://127.0.0.1:${port}`),
    gatewayBase: gwBase,
    adminKey,
    /** Runs SQL in the bench schema (e.g. to create a key with limits). */
    sql: (text, params) => db.queryIn(schema, text, params),
  };
}

/** The api-gateway and the router-worker as two processes on the gateway core. */
async function startSplit({
  group,
  cpus,
  nodeArgs,
  gatewayMain,
  workerMain,
  appEnv,
  gwPort,
  workerPort,
  gwBase,
  pgAppName,
  logFile,
  log,
}) {
  const gateway = group.start('api-gateway', {
    cpu: cpus.gateway,
    cmd: process.execPath,
    args: [...nodeArgs, gatewayMain],
    env: { ...appEnv, PORT: String(gwPort), PGAPPNAME: `${pgAppName}-gateway` },
    logFile: logFile('api-gateway'),
  });
  const worker = group.start('router-worker', {
    cpu: cpus.gateway,
    cmd: process.execPath,
    args: [...nodeArgs, workerMain],
    env: { ...appEnv, PORT: String(workerPort), PGAPPNAME: `${pgAppName}-worker` },
    logFile: logFile('router-worker'),
  });
  await waitFor('api-gateway /health/ready', () => httpOk(`${gwBase}/health/ready`), 90_000, gateway);
  await waitFor(
    'router-worker /health/ready',
    () => httpOk(`http://127.0.0.1:${workerPort}/health/ready`),
    90_000,
    worker,
  );
  log(`api-gateway pid ${gateway.pid} on ${gwBase}; router-worker pid ${worker.pid} (ops :${workerPort})`);
  return {
    label: 'api-gateway + router-worker',
    pids: { 'api-gateway': gateway.pid, 'router-worker': worker.pid },
    rssPids: { gateway: gateway.pid, worker: worker.pid },
    gatewayPid: gateway.pid,
  };
}

/** `--topology single`: one all-in-one process (api-gateway + router-worker, ADR 0010) on the gateway core. */
async function startSingle({ group, cpus, nodeArgs, singleMain, appEnv, gwPort, gwBase, pgAppName, logFile, log }) {
  const proc = group.start('all-in-one', {
    cpu: cpus.gateway,
    cmd: process.execPath,
    args: [...nodeArgs, singleMain],
    env: { ...appEnv, PORT: String(gwPort), PGAPPNAME: `${pgAppName}-single` },
    logFile: logFile('all-in-one'),
  });
  // Its readiness includes the hosted router-worker's.
  await waitFor('all-in-one /health/ready', () => httpOk(`${gwBase}/health/ready`), 90_000, proc);
  log(`all-in-one (api-gateway + router-worker) pid ${proc.pid} on ${gwBase}`);
  return {
    label: 'all-in-one (api-gateway + router-worker)',
    pids: { 'all-in-one': proc.pid },
    rssPids: { gateway: proc.pid },
    gatewayPid: proc.pid,
  };
}

/** A stand-in has no health route; it is up once its port accepts connections. */
function portOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
