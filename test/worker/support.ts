import 'reflect-metadata';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { ClientProxyFactory, Transport, type ClientProxy } from '@nestjs/microservices';
import {
  ControlPattern,
  DAY_MS,
  JobName,
  newRequestId,
  parseRedisUrl,
  QueueName,
  validateEnv,
  type CancelGenerationMessage,
  type GenerateJobData,
  type GenerateOutcome,
  type GenerationRequest,
  type ReplyMessage,
} from '@aigw/core';
import {
  freePort,
  ProviderSimulator,
  uniqueId,
  waitFor,
  deleteRedisKeysOf,
  dropSchema,
  TEST_DATABASE_URL as DATABASE_URL,
  TEST_REDIS_URL as REDIS_URL,
} from '@aigw/testing';
import { RedisKeys } from '@aigw/platform';
import { Queue, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { startRouterWorker } from '../../apps/router-worker/src/bootstrap';
import { WorkerEnv } from '../../apps/router-worker/src/config/worker-env';

export { DATABASE_URL, REDIS_URL };
const ROOT = path.resolve(__dirname, '..', '..');
export const WORKER_MAIN = path.join(ROOT, 'dist', 'apps', 'router-worker', 'src', 'main.js');

/** A router-worker running as its own process (from dist/). */
export interface WorkerProcess {
  child: ChildProcess;
  port: number;
  output: string[];
  /** Exit code, or the signal that ended it. */
  exited: Promise<number | NodeJS.Signals | null>;
}

/** A catalog with one OpenAI-style and one Anthropic-style provider, both served by the simulator. */
export function catalogYaml(simUrl: string): string {
  return `providers:
  - id: sim-openai
    kind: openai
    baseUrl: ${simUrl}/v1
    apiKey: sk-sim-openai-secret
    timeoutMs: 10000
    models:
      - { name: sim-gpt, promptPer1k: 0.001, completionPer1k: 0.002, cachedPromptPer1k: 0.0005, contextWindow: 8192 }
      - { name: sim-chat-only, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192, capabilities: [chat] }
  - id: sim-anthropic
    kind: anthropic
    baseUrl: ${simUrl}
    apiKey: sk-sim-anthropic-secret
    timeoutMs: 10000
    models:
      - { name: sim-claude, promptPer1k: 0.003, completionPer1k: 0.015, contextWindow: 8192 }
`;
}

/**
 * A catalog whose model `shared` has two OpenAI-style deployments: `first` at `firstUrl` (the cheaper, so the `cost`
 * policy tries it first) and `calm` on the simulator, the one a fallback reaches. `firstOnly` names models only
 * `first` serves (no fallback for them).
 */
export function fallbackPairCatalog(
  first: string,
  firstUrl: () => string,
  firstOnly: string[] = [],
): (simUrl: string) => string {
  return (simUrl: string): string => `providers:
  - id: ${first}
    kind: openai
    baseUrl: ${firstUrl()}/v1
    apiKey: sk-${first}-secret
    timeoutMs: 5000
    models:
${['shared', ...firstOnly].map((m) => `      - { name: ${m}, promptPer1k: 0.0001, completionPer1k: 0.0001, contextWindow: 8192 }`).join('\n')}
  - id: calm
    kind: openai
    baseUrl: ${simUrl}/v1
    apiKey: sk-calm-secret
    timeoutMs: 5000
    models:
      - { name: shared, promptPer1k: 0.002, completionPer1k: 0.002, contextWindow: 8192 }
`;
}

export interface HarnessOptions {
  env?: Record<string, string>;
  /** Connect the worker to PostgreSQL through this URL instead of DATABASE_URL. */
  databaseUrl?: string;
  /** The provider catalog for the simulator at `simUrl`, instead of `catalogYaml`'s. */
  catalog?: (simUrl: string) => string;
}

/**
 * One router-worker booted in-process against the real Redis and PostgreSQL and a provider simulator, plus the
 * gateway's side of the contract: a BullMQ producer on the generation queue and a subscriber on a reply channel.
 * Each harness has its own Redis prefix and PostgreSQL schema.
 */
export class WorkerHarness {
  readonly prefix = uniqueId('tw');
  readonly schema = this.prefix;
  readonly replyTo = `${this.prefix}:reply:test-gateway`;
  readonly sim = new ProviderSimulator();
  app!: NestFastifyApplication;
  env!: WorkerEnv;
  readonly processes: WorkerProcess[] = [];
  private rawEnv: Record<string, string> = {};
  queue!: Queue<GenerateJobData, GenerateOutcome, JobName.Generate>;
  private readonly replies = new Map<string, ReplyMessage[]>();
  private subscriber!: Redis;
  producer!: Redis;
  private control?: ClientProxy;
  private dir = '';
  private closed = false;

  constructor(private readonly opts: HarnessOptions = {}) {}

  /** Boots the worker in this process. */
  async start(): Promise<this> {
    await this.prepare();
    this.app = await startRouterWorker(this.env);
    return this;
  }

  /** Everything but the worker: simulator, catalog, schema name, the gateway's queue and reply subscriber. */
  async prepare(): Promise<this> {
    await this.sim.start();
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-worker-'));
    const catalog = path.join(this.dir, 'providers.yaml');
    writeFileSync(catalog, (this.opts.catalog ?? catalogYaml)(this.sim.url));
    this.rawEnv = {
      NODE_ENV: 'test',
      DATABASE_URL: this.opts.databaseUrl ?? DATABASE_URL,
      DATABASE_SCHEMA: this.schema,
      REDIS_URL,
      REDIS_PREFIX: this.prefix,
      PROVIDERS_FILE: catalog,
      LOG_LEVEL: 'warn',
      PORT: '0',
      SHUTDOWN_GRACE_MS: '10000',
      // The jobs this rig makes name API keys that are not in the database: a job run long after its `receivedAt`
      // (a backlog, a takeover) would be refused as revoked. key-recheck.test.ts covers the check.
      KEY_RECHECK_AFTER_MS: String(DAY_MS),
      ...this.opts.env,
    };
    this.env = validateEnv(WorkerEnv, this.rawEnv);
    this.subscriber = new Redis(REDIS_URL);
    this.subscriber.on('message', (_channel: string, raw: string) => {
      const message = JSON.parse(raw) as ReplyMessage;
      const list = this.replies.get(message.jobId) ?? [];
      list.push(message);
      this.replies.set(message.jobId, list);
    });
    await this.subscriber.subscribe(this.replyTo);
    this.producer = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    this.queue = new Queue(QueueName.Generation, { connection: this.producer, prefix: `{${this.prefix}}` });
    return this;
  }

  /** Starts a worker process from the build (`npm run build`) and waits until it is ready. */
  async spawnWorker(extraEnv: Record<string, string> = {}): Promise<WorkerProcess> {
    if (!existsSync(WORKER_MAIN)) {
      throw new Error(`${WORKER_MAIN} is missing: build first (npm run build)`);
    }
    const port = await freePort();
    const child = spawn(process.execPath, [WORKER_MAIN], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...this.rawEnv, PORT: String(port), ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    child.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
    child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
    const exited = new Promise<number | NodeJS.Signals | null>((resolve) =>
      child.once('exit', (code, signal) => resolve(code ?? signal)),
    );
    const worker: WorkerProcess = { child, port, output, exited };
    this.processes.push(worker);
    await waitFor(
      async () => {
        if (child.exitCode !== null) {
          throw new Error(`worker exited with ${child.exitCode}`);
        }
        const res = await fetch(`http://127.0.0.1:${port}/health/ready`).catch(() => null);
        return res?.ok ?? false;
      },
      { timeoutMs: 30_000, intervalMs: 100, message: `worker did not get ready:\n${output.join('')}` },
    );
    return worker;
  }

  request(overrides: Partial<GenerationRequest> = {}): GenerationRequest {
    const now = Date.now();
    return {
      requestId: newRequestId(),
      model: 'sim-gpt',
      messages: [{ role: 'user', content: 'hello worker' }],
      options: {},
      stream: false,
      userId: randomUUID(),
      apiKeyId: randomUUID(),
      receivedAt: now,
      deadlineAt: now + 30_000,
      ...overrides,
    };
  }

  /** Enqueues a generate job as the gateway does; `replyTo: null` makes it an async job. */
  async enqueue(
    overrides: Partial<GenerationRequest> = {},
    replyTo: string | null = this.replyTo,
  ): Promise<Job<GenerateJobData, GenerateOutcome, JobName.Generate>> {
    const request = this.request(overrides);
    return this.queue.add(
      JobName.Generate,
      { request, replyTo },
      { jobId: request.requestId, removeOnComplete: false },
    );
  }

  /** Enqueues a sync generate job as the gateway does: removed as it completes, its outcome kept by the worker. */
  async enqueueSync(
    overrides: Partial<GenerationRequest> = {},
    keepOutcomeMs = 0,
  ): Promise<Job<GenerateJobData, GenerateOutcome, JobName.Generate>> {
    const request = this.request(overrides);
    return this.queue.add(
      JobName.Generate,
      { request, replyTo: this.replyTo, keepOutcomeMs },
      { jobId: request.requestId, removeOnComplete: true },
    );
  }

  /** Where the worker keeps a sync job's outcome. */
  outcomeKey(jobId: string): string {
    return new RedisKeys(this.prefix).outcome(jobId);
  }

  repliesOf(jobId: string): ReplyMessage[] {
    return this.replies.get(jobId) ?? [];
  }

  /** Waits for the job's last reply (`result`, `end` or `error`) and returns every reply it got. */
  async finalReplies(jobId: string, timeoutMs = 15_000): Promise<ReplyMessage[]> {
    await waitFor(() => this.repliesOf(jobId).some((m) => m.t === 'result' || m.t === 'end' || m.t === 'error'), {
      timeoutMs,
      message: `no final reply for job ${jobId}`,
    });
    return this.repliesOf(jobId);
  }

  /** The job's stored return value once it completed. */
  async outcome(jobId: string, timeoutMs = 15_000): Promise<GenerateOutcome> {
    return waitFor(
      async () => {
        const job = await this.queue.getJob(jobId);
        return job && (await job.getState()) === 'completed' ? job.returnvalue : undefined;
      },
      { timeoutMs, intervalMs: 25, message: `job ${jobId} did not complete` },
    );
  }

  /** Sends a cancel control message the way the gateway does (Nest Redis transport). */
  async cancel(
    jobId: string,
    reason: CancelGenerationMessage['reason'] = 'client_disconnected',
    ns = this.prefix,
  ): Promise<void> {
    this.control ??= ClientProxyFactory.create({ transport: Transport.REDIS, options: parseRedisUrl(REDIS_URL) });
    const message: CancelGenerationMessage = { ns, jobId, reason };
    await this.control.connect();
    this.control.emit(ControlPattern.CancelGeneration, message);
  }

  async metrics(): Promise<string> {
    const res = await this.app.inject({ method: 'GET', url: '/metrics' });
    return res.body;
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

  async usageRows(requestIds: string[]): Promise<Record<string, unknown>[]> {
    return this.query('SELECT * FROM usage_records WHERE request_id = ANY($1) ORDER BY created_at', [requestIds]);
  }

  async closeWorker(): Promise<void> {
    if (!this.closed && this.app) {
      this.closed = true;
      await this.app.close();
    }
  }

  async stop(): Promise<void> {
    await this.closeWorker().catch(() => undefined);
    for (const p of this.processes) {
      if (p.child.exitCode === null && p.child.signalCode === null) {
        p.child.kill('SIGKILL');
        await p.exited;
      }
    }
    await this.control?.close();
    await this.queue.close();
    await this.subscriber.quit();
    await deleteRedisKeysOf(this.producer, this.prefix);
    await this.producer.quit();
    await this.sim.stop();
    rmSync(this.dir, { recursive: true, force: true });
    await dropSchema(DATABASE_URL, this.schema);
  }
}
