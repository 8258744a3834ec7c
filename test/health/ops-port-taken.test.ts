import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { HealthJobName, QueueName, validateEnv } from '@aigw/core';
import { RedisKeys } from '@aigw/platform';
import { freePort, sleep, waitFor } from '@aigw/testing';
import { Queue, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { startHealthMonitor } from '../../apps/health-monitor/src/bootstrap';
import { MonitorEnv } from '../../apps/health-monitor/src/config/monitor-env';
import { REDIS_URL, ROOT, TestSystem } from '../e2e/harness';

const modelList = 'GET /v1/models';

/**
 * A split system whose own monitor runs without scheduled probes (so it takes no health job: a job taken is the failed
 * monitor's), a port held by another listener, and the health queue.
 */
function portTakenFixture(): {
  system: TestSystem;
  takenPort: () => number;
  queue: () => Queue;
  queueProbe: () => Promise<Job>;
} {
  const system = new TestSystem({ workers: 0 });
  let blocker: Server | undefined;
  let takenPort = 0;
  let queue: Queue | undefined;
  let connection: Redis | undefined;

  beforeAll(async () => {
    await system.start();
    takenPort = await freePort();
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(takenPort, '127.0.0.1', resolve));
    blocker = server;
    connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    queue = new Queue(QueueName.Health, { connection, prefix: new RedisKeys(system.prefix).bullPrefix });
  }, 90_000);

  afterAll(async () => {
    await queue?.close();
    connection?.disconnect();
    await new Promise<void>((resolve) => (blocker === undefined ? resolve() : blocker.close(() => resolve())));
    await system.stop();
  }, 30_000);

  return {
    system,
    takenPort: () => takenPort,
    queue: () => queue!,
    // A probe of the system's provider, queued for whichever monitor takes health jobs.
    queueProbe: () => queue!.add(HealthJobName.ProbeProvider, { id: 'sim0' }),
  };
}

/**
 * A health-monitor whose ops port (PORT: `/metrics`, `/health/*`) is taken fails its start. It started its probe
 * consumer and its schedules at bootstrap, before it listened: it rewrote the schedules the replicas share, and a
 * health job it took in that gap was left active under its lock (30 s) by a process gone, until another monitor's
 * stall check found it. It must take no job, and schedule nothing, before its port is open.
 */
describe('health-monitor: a start that fails on a taken ops port holds no health job (process)', () => {
  const f = portTakenFixture();

  it('exits 1 at once naming the port, leaving the queued probe to the next monitor at once', async () => {
    const job = await f.queueProbe();
    const env = {
      ...f.system.baseEnv(),
      HOST: '127.0.0.1',
      PORT: String(f.takenPort()),
      HEALTH_PROBES_ENABLED: 'true',
    };
    const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'apps', 'health-monitor', 'src', 'main.js')], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const startedAt = Date.now();
    const code = await exited;
    clearTimeout(killer);
    expect(code).toBe(1);
    // Within its SHUTDOWN_GRACE_MS (5 s) and a boot.
    expect(Date.now() - startedAt).toBeLessThan(20_000);
    expect(output).toContain(
      `failed to start: 127.0.0.1:${f.takenPort()} is already in use (EADDRINUSE): set PORT to a free port`,
    );

    // Before, the failed monitor had taken the job (left active under its lock) and added the probe schedules.
    expect(await job.getState()).toBe('waiting');
    expect(await f.queue().getJobCountByTypes('active')).toBe(0);
    expect(await f.queue().getJobSchedulersCount()).toBe(0);
    expect(f.system.sim.stats().byRoute[modelList] ?? 0).toBe(0);

    // A monitor that starts takes it at once, not once a lock lapsed.
    const takenAt = Date.now();
    await f.system.addReplica('health-monitor', { HEALTH_PROBES_ENABLED: 'true' });
    await waitFor(async () => (await job.getState()) === 'completed', { timeoutMs: 10_000, intervalMs: 100 });
    expect(Date.now() - takenAt).toBeLessThan(20_000);
    expect(f.system.sim.stats().byRoute[modelList]).toBeGreaterThanOrEqual(1);
  }, 90_000);
});

describe('health-monitor: a start that fails on a taken ops port holds no health job (in-process)', () => {
  const f = portTakenFixture();

  // Run in-process as well: a failed start that took a job shows it by running it (the probe reaches the simulator),
  // where a process of its own exits at once with it, or before its consumer got to it.
  it('takes no job in-process before its port is open, and closes every connection it opened', async () => {
    const job = await f.queueProbe();
    const before = await clientsNamed(f.system.prefix);
    const env = validateEnv(MonitorEnv, {
      ...f.system.baseEnv(),
      HOST: '127.0.0.1',
      PORT: String(f.takenPort()),
      HEALTH_PROBES_ENABLED: 'true',
    });
    await expect(startHealthMonitor(env)).rejects.toThrow(`127.0.0.1:${f.takenPort()} is already in use (EADDRINUSE)`);
    await sleep(1_000);
    expect(f.system.sim.stats().byRoute[modelList] ?? 0).toBe(0);
    expect(await job.getState()).toBe('waiting');
    expect(await f.queue().getJobSchedulersCount()).toBe(0);
    // Its command, queue and control connections are closed (the system's own monitor keeps its own).
    expect(await clientsNamed(f.system.prefix)).toEqual(before);
    await job.remove();
  }, 30_000);
});

/** The names of the Redis connections open under `prefix` (every connection of an app is named after it), sorted. */
async function clientsNamed(prefix: string): Promise<string[]> {
  const probe = new Redis(REDIS_URL);
  try {
    const list = (await probe.client('LIST')) as string;
    return list
      .split('\n')
      .map((line) => /\bname=(\S*)/.exec(line)?.[1] ?? '')
      .filter((name) => name.startsWith(`${prefix}:`))
      .sort();
  } finally {
    await probe.quit();
  }
}
