import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ReplyMessage } from '@aigw/core';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import {
  ProviderSimulator,
  freePort,
  uniqueId,
  waitFor,
  deleteRedisKeysOf,
  dropSchema,
  TEST_DATABASE_URL as DATABASE_URL,
  TEST_REDIS_URL as REDIS_URL,
} from '@aigw/testing';

/**
 * Boots the real system as separate processes from dist/ (npm test builds first): api-gateway,
 * router-worker(s) and health-monitor, against a simulator on loopback, with a unique Redis prefix
 * and PostgreSQL schema so suites run in parallel and leave nothing behind. With the `single` topology
 * (or E2E_TOPOLOGY=single for suites that do not name their topology), all-in-one processes host them instead
 * (ADR 0010), one per replica; `workers()`, `gateways()`, `monitors()` and `addReplica()` serve either topology.
 */
export const ROOT = path.resolve(__dirname, '..', '..');
export { DATABASE_URL, REDIS_URL };

export type AppName = 'api-gateway' | 'router-worker' | 'health-monitor' | 'all-in-one';

export type Topology = 'split' | 'single';

export interface AppProcess {
  name: AppName;
  port: number;
  child: ChildProcess;
  /** Its whole environment. */
  env: Record<string, string>;
  output: string[];
  exited: Promise<number | null>;
}

export interface SystemOptions {
  /** `split` (default, unless E2E_TOPOLOGY says otherwise): one process per app; `single`: the all-in-one process. */
  topology?: Topology;
  /**
   * Router-workers of the split topology (default 1). In the single topology, all-in-one instances sharing the
   * Redis (default 1, at least 1): each hosts a worker, the first is `gatewayUrl` and hosts the health-monitor.
   */
  workers?: number;
  /** Environment of every app. */
  env?: Record<string, string>;
  /** Environment of one kind of app, on top of `env`. */
  appEnv?: Partial<Record<AppName, Record<string, string>>>;
  /** Simulators to start (default 1). */
  simulators?: number;
  /** The provider catalog (YAML) to seed, built once the simulators run; default: `catalogYaml()`. */
  catalog?: (system: TestSystem) => string | Promise<string>;
}

export class TestSystem {
  readonly prefix = uniqueId('e2e');
  readonly schema = this.prefix.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  readonly adminKey = `sk-aigw-test-${uniqueId()}`;
  readonly sims: ProviderSimulator[] = [];
  readonly apps: AppProcess[] = [];
  gatewayUrl = '';
  private catalogFile = '';

  readonly topology: Topology;

  constructor(private readonly opts: SystemOptions = {}) {
    this.topology = opts.topology ?? (process.env.E2E_TOPOLOGY === 'single' ? 'single' : 'split');
  }

  get sim(): ProviderSimulator {
    return this.sims[0];
  }

  baseEnv(): Record<string, string> {
    return {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'test',
      DATABASE_URL,
      DATABASE_SCHEMA: this.schema,
      REDIS_URL,
      REDIS_PREFIX: this.prefix,
      PROVIDERS_FILE: this.catalogFile,
      BOOTSTRAP_ADMIN_KEY: this.adminKey,
      LOG_LEVEL: 'warn',
      WORKER_LOCK_MS: '2000',
      WORKER_STALLED_INTERVAL_MS: '1000',
      SHUTDOWN_GRACE_MS: '5000',
      // Scheduled health probes would add model-list calls to the simulators' counts at random moments; the
      // health suites turn them on.
      HEALTH_PROBES_ENABLED: 'false',
      ...this.opts.env,
    };
  }

  async start(): Promise<this> {
    const n = this.opts.simulators ?? 1;
    for (let i = 0; i < n; i++) {
      const sim = new ProviderSimulator({ echo: true });
      await sim.start();
      this.sims.push(sim);
    }
    const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-e2e-'));
    this.catalogFile = path.join(dir, 'providers.yaml');
    writeFileSync(this.catalogFile, this.opts.catalog ? await this.opts.catalog(this) : this.catalogYaml());
    if (this.topology === 'single') {
      const first = await this.spawnOnFreePort('all-in-one', { ALL_IN_ONE_MONITOR: 'true' });
      this.gatewayUrl = `http://127.0.0.1:${first.port}`;
      for (let i = 1; i < (this.opts.workers ?? 1); i++) {
        await this.spawnOnFreePort('all-in-one');
      }
      return this;
    }
    // The gateway runs migrations and seeds first; the others then find the schema ready
    // (they would also wait on the advisory lock if started together).
    const gateway = await this.spawnOnFreePort('api-gateway');
    this.gatewayUrl = `http://127.0.0.1:${gateway.port}`;
    const workers = this.opts.workers ?? 1;
    await Promise.all([
      ...Array.from({ length: workers }, () => this.spawnOnFreePort('router-worker')),
      this.spawnOnFreePort('health-monitor'),
    ]);
    return this;
  }

  /**
   * `spawnApp` on a port found free, and on another if something took that one before the app listened (`freePort`
   * only finds a port free at that moment: suites running side by side, or an ops-port test holding one, may take it
   * meanwhile, and the app then stops with EADDRINUSE).
   */
  private async spawnOnFreePort(name: AppName, extraEnv: Record<string, string> = {}): Promise<AppProcess> {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      try {
        return await this.spawnApp(name, port, extraEnv);
      } catch (err) {
        const failed = this.apps.findIndex((a) => a.name === name && a.port === port);
        const app = failed < 0 ? undefined : this.apps[failed];
        if (attempt >= 3 || app?.child.exitCode === null || !app?.output.join('').includes('EADDRINUSE')) {
          throw err;
        }
        // It exited: nothing of it to stop.
        this.apps.splice(failed, 1);
      }
    }
  }

  catalogYaml(): string {
    const providers = this.sims.map(
      (sim, i) => `  - id: sim${i}
    kind: openai
    baseUrl: ${sim.url}/v1
    apiKey: sk-sim-secret-${i}
    timeoutMs: 10000
    models:
      - { name: sim-gpt, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192, capabilities: [chat, streaming] }
  - id: sim${i}-anthropic
    kind: anthropic
    baseUrl: ${sim.url}
    apiKey: sk-sim-secret-a${i}
    timeoutMs: 10000
    models:
      - { name: sim-claude, promptPer1k: 0.003, completionPer1k: 0.015, contextWindow: 8192, capabilities: [chat, streaming] }
`,
    );
    return `providers:\n${providers.join('')}`;
  }

  async spawnApp(name: AppName, port: number, extraEnv: Record<string, string> = {}): Promise<AppProcess> {
    const env: Record<string, string> = {
      ...this.baseEnv(),
      ...this.appEnvOf(name),
      PORT: String(port),
      HOST: '127.0.0.1',
      ...extraEnv,
    };
    const gateway = name === 'api-gateway' || name === 'all-in-one';
    const channelsBefore = gateway ? await this.replyChannels(env.REDIS_URL, env.REDIS_PASSWORD) : [];
    const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'apps', name, 'src', 'main.js')], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    child.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
    child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const app: AppProcess = { name, port, child, env, output, exited };
    this.apps.push(app);
    try {
      await waitFor(
        async () => {
          if (child.exitCode !== null) {
            throw new Error(`${name} exited with ${child.exitCode}:\n${output.join('')}`);
          }
          const r = await fetch(`http://127.0.0.1:${port}/health/ready`).catch(() => null);
          return r?.ok ?? false;
        },
        // A Node process boots in seconds, but on a host with many suites running it has taken over 30 s.
        { timeoutMs: 60_000, intervalMs: 100, message: `${name} not ready` },
      );
    } catch (err) {
      throw new Error(`${name} did not start: ${err instanceof Error ? err.message : ''}\n${output.join('')}`, {
        cause: err,
      });
    }
    // Compared by name, not by count: a gateway that exited just before may still be counted before, not after.
    if (
      gateway &&
      (await this.replyChannels(env.REDIS_URL, env.REDIS_PASSWORD)).every((channel) => channelsBefore.includes(channel))
    ) {
      // A gateway that lost its SUBSCRIBE still answers, each request 2 s late from the stored job: fail here instead.
      throw new Error(`${name} on port ${port} is ready but not subscribed to its reply channel\n${output.join('')}`);
    }
    return app;
  }

  /**
   * The reply channels of this system's gateways that have subscribers on the apps' Redis (`url`, logged in with
   * `password` when the apps are given it apart, as REDIS_PASSWORD).
   */
  private async replyChannels(url: string, password?: string): Promise<string[]> {
    const redis = new Redis(url, password === undefined ? {} : { password });
    try {
      return (await redis.pubsub('CHANNELS', `${this.prefix}:reply:*`)) as string[];
    } finally {
      await redis.quit();
    }
  }

  /** The all-in-one process hosts every app: it gets each app's own environment, its own last. */
  private appEnvOf(name: AppName): Record<string, string> | undefined {
    const appEnv = this.opts.appEnv;
    if (name !== 'all-in-one') {
      return appEnv?.[name];
    }
    return {
      ...appEnv?.['api-gateway'],
      ...appEnv?.['router-worker'],
      ...appEnv?.['health-monitor'],
      ...appEnv?.[name],
    };
  }

  /** The running processes that host a router-worker: router-workers, or all-in-one instances (their `/metrics`
   *  includes the hosted worker's). */
  workers(): AppProcess[] {
    return this.running().filter((a) => a.name === 'router-worker' || a.name === 'all-in-one');
  }

  /** The running processes that serve the gateway's API: api-gateways, or all-in-one instances. */
  gateways(): AppProcess[] {
    return this.running().filter((a) => a.name === 'api-gateway' || a.name === 'all-in-one');
  }

  /** The running processes that host a health-monitor: health-monitors, or all-in-one instances started with one. */
  monitors(): AppProcess[] {
    return this.running().filter(
      (a) => a.name === 'health-monitor' || (a.name === 'all-in-one' && a.env.ALL_IN_ONE_MONITOR === 'true'),
    );
  }

  /**
   * One more replica of `name` on a free port. In the single topology it is one more all-in-one instance, which is
   * an api-gateway and a router-worker, and hosts a health-monitor when `name` is one.
   */
  async addReplica(
    name: 'api-gateway' | 'router-worker' | 'health-monitor',
    env: Record<string, string> = {},
  ): Promise<AppProcess> {
    if (this.topology === 'single') {
      const monitor: Record<string, string> = name === 'health-monitor' ? { ALL_IN_ONE_MONITOR: 'true' } : {};
      return this.spawnApp('all-in-one', await freePort(), { ...monitor, ...env });
    }
    return this.spawnApp(name, await freePort(), env);
  }

  private running(): AppProcess[] {
    return this.apps.filter((a) => a.child.exitCode === null && a.child.signalCode === null);
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.apps.map(async (a) => {
        if (a.child.exitCode === null && a.child.signalCode === null) {
          a.child.kill('SIGTERM');
          const t = setTimeout(() => a.child.kill('SIGKILL'), 8000);
          await a.exited;
          clearTimeout(t);
        }
      }),
    );
    await Promise.all(this.sims.map((s) => s.stop()));
    const redis = new Redis(REDIS_URL);
    try {
      await deleteRedisKeysOf(redis, this.prefix);
    } finally {
      await redis.quit();
    }
    await dropSchema(DATABASE_URL, this.schema);
  }

  headers(key = this.adminKey): Record<string, string> {
    return { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  }

  /** An admin API call (`path` under /api/v1/ai/admin) with the admin key that must succeed; its JSON answer. */
  async admin<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.gatewayUrl}/api/v1/ai/admin${path}`, {
      method,
      headers: this.headers(),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status >= 300) {
      throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    }
    return (await res.json()) as T;
  }

  async query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    const pg = new Client({ connectionString: DATABASE_URL });
    await pg.connect();
    try {
      await pg.query(`SET search_path TO "${this.schema}"`);
      return (await pg.query(sql, params)).rows as T[];
    } finally {
      await pg.end();
    }
  }
}

/** A reply a worker published, and the gateway channel it went to. */
export interface PublishedReply {
  channel: string;
  message: ReplyMessage;
}

/** Records everything published on a deployment's reply channels (`<prefix>:reply:<instance>`) until closed. */
export async function watchReplyChannels(
  prefix: string,
): Promise<{ published: PublishedReply[]; close: () => Promise<void> }> {
  const published: PublishedReply[] = [];
  const sub = new Redis(REDIS_URL);
  sub.on('pmessage', (_pattern: string, channel: string, raw: string) => {
    published.push({ channel, message: JSON.parse(raw) as ReplyMessage });
  });
  await sub.psubscribe(`${prefix}:reply:*`);
  return { published, close: async () => void (await sub.quit()) };
}
