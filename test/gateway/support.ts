import 'reflect-metadata';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import {
  CLIENT_GONE_MESSAGE,
  ControlPattern,
  EMPTY_USAGE,
  ErrorCode,
  keptNative,
  outcomeTtlMs,
  QueueName,
  validateEnv,
  type AbortCause,
  type CancelGenerationMessage,
  type ErrorBody,
  type GenerateJobData,
  type GenerateOutcome,
  type GenerationRequest,
  type GenerationResult,
  type JobName,
  type ReplyMessage,
} from '@aigw/core';
import { ApiKeyStore } from '@aigw/entities';
import { RedisKeys } from '@aigw/platform';
import {
  parseSse,
  ProviderSimulator,
  uniqueId,
  waitFor,
  type SseEvent,
  deleteRedisKeysOf,
  dropSchema,
  TEST_DATABASE_URL as DATABASE_URL,
  TEST_REDIS_URL as REDIS_URL,
} from '@aigw/testing';
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { createGatewayApp } from '../../apps/api-gateway/src/bootstrap';
import { GatewayEnv } from '../../apps/api-gateway/src/config/gateway-env';

export { DATABASE_URL, REDIS_URL };

export type GenerateJob = Job<GenerateJobData, GenerateOutcome, JobName.Generate>;
/** The test's stand-in for the router-worker: what to do with one generate job. */
export type JobHandler = (job: GenerateJob) => Promise<GenerateOutcome>;

export type StartMessage = Extract<ReplyMessage, { t: 'start' }>;

export interface ErrorEnvelope {
  error: { message: string; type: string; code: string; param: string | null };
}

export function catalogYaml(simUrl: string): string {
  return `providers:
  - id: sim
    kind: openai
    baseUrl: ${simUrl}/v1
    apiKey: sk-sim-secret-gateway-test
    timeoutMs: 10000
    models:
      - { name: sim-gpt, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192, capabilities: [chat, streaming] }
  - id: sim-b
    kind: anthropic
    baseUrl: ${simUrl}
    apiKey: sk-sim-secret-gateway-test-b
    timeoutMs: 10000
    models:
      - { name: sim-claude, promptPer1k: 0.003, completionPer1k: 0.015, contextWindow: 8192 }
      - { name: sim-gpt, promptPer1k: 0.002, completionPer1k: 0.004, contextWindow: 8192, enabled: false }
`;
}

/**
 * The api-gateway booted in-process (real Redis, real PostgreSQL with migrations, a simulator as the
 * catalog's provider) plus the worker's side of the contract played by the test: a real BullMQ Worker
 * on the same prefix whose behaviour each test sets with `handle`. Own Redis prefix and schema.
 */
export class GatewayHarness {
  readonly prefix = uniqueId('tg');
  readonly schema = this.prefix;
  readonly adminKey = `sk-aigw-admin-${uniqueId()}`;
  readonly sim = new ProviderSimulator();
  readonly cancels: CancelGenerationMessage[] = [];
  readonly jobsSeen: string[] = [];
  app!: NestFastifyApplication;
  env!: GatewayEnv;
  url = '';
  private handler: JobHandler = (job) => this.answer(job, lastUserText(job.data.request));
  /** The generation queue as the worker sees it, for inspecting jobs. */
  queue!: Queue<GenerateJobData, GenerateOutcome, JobName.Generate>;
  private worker!: Worker<GenerateJobData, GenerateOutcome, JobName.Generate>;
  private workerConnection!: Redis;
  private redis!: Redis;
  private control!: Redis;
  private dir = '';
  private appClosed = false;

  constructor(private readonly envOverrides: Record<string, string> = {}) {}

  async start(): Promise<this> {
    await this.sim.start();
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-gateway-'));
    const catalog = path.join(this.dir, 'providers.yaml');
    writeFileSync(catalog, catalogYaml(this.sim.url));
    this.env = validateEnv(GatewayEnv, {
      NODE_ENV: 'test',
      DATABASE_URL,
      DATABASE_SCHEMA: this.schema,
      REDIS_URL,
      REDIS_PREFIX: this.prefix,
      PROVIDERS_FILE: catalog,
      BOOTSTRAP_ADMIN_KEY: this.adminKey,
      LOG_LEVEL: 'error',
      PORT: '0',
      ...this.envOverrides,
    });
    this.redis = new Redis(REDIS_URL);
    this.control = new Redis(REDIS_URL);
    this.control.on('message', (_channel: string, raw: string) => {
      const packet = JSON.parse(raw) as { pattern: string; data: CancelGenerationMessage };
      // The channel is shared by every deployment on this Redis (test files run side by side): this gateway's only.
      if (packet.data.ns === this.prefix) {
        this.cancels.push(packet.data);
      }
    });
    await this.control.subscribe(ControlPattern.CancelGeneration);
    this.workerConnection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    this.worker = new Worker<GenerateJobData, GenerateOutcome, JobName.Generate>(
      QueueName.Generation,
      async (job) => {
        this.jobsSeen.push(job.id ?? '');
        const outcome = await this.handler(job);
        await this.keepOutcome(job, outcome);
        return outcome;
      },
      { connection: this.workerConnection, prefix: `{${this.prefix}}`, concurrency: 50 },
    );
    this.queue = new Queue(QueueName.Generation, { connection: this.redis, prefix: `{${this.prefix}}` });
    this.app = await createGatewayApp(this.env);
    await this.app.listen(0, '127.0.0.1');
    this.url = await this.app.getUrl();
    return this;
  }

  /**
   * As the worker does before completing a sync job (BullMQ removes it as it completes): keeps its outcome, with whose
   * it is and, for a failed native job, the body's input fields (OutcomeStore.keep; its usage event left out: the
   * gateway does not read it).
   */
  private async keepOutcome(job: GenerateJob, outcome: GenerateOutcome): Promise<void> {
    const { keepOutcomeMs, request } = job.data;
    if (keepOutcomeMs !== undefined) {
      const ttlMs = outcomeTtlMs(request.deadlineAt, keepOutcomeMs, Date.now());
      const { userId, apiKeyId, receivedAt } = request;
      const kept = { ...outcome, userId, apiKeyId, receivedAt, ...keptNative(job.data, outcome) };
      await this.redis.set(this.outcomeKey(job.id ?? ''), JSON.stringify(kept), 'PX', ttlMs);
    }
  }

  /** Where the worker keeps a sync job's outcome. */
  outcomeKey(jobId: string): string {
    return new RedisKeys(this.prefix).outcome(jobId);
  }

  /** Stops the stand-in worker from taking jobs (those it runs go on), until `resumeWorker`. */
  async pauseWorker(): Promise<void> {
    await this.worker.pause();
  }

  resumeWorker(): void {
    this.worker.resume();
  }

  /** Sets what the stand-in worker does with the next jobs. */
  handle(handler: JobHandler): void {
    this.handler = handler;
  }

  async publish(job: GenerateJob, message: ReplyMessage): Promise<void> {
    if (job.data.replyTo !== null) {
      await this.redis.publish(job.data.replyTo, JSON.stringify(message));
    }
  }

  /** The `start` of a stream as the worker sends it for `job` (its id that of `result`); `overrides` change fields. */
  startMessage(job: GenerateJob, overrides: Partial<StartMessage> = {}): StartMessage {
    return {
      t: 'start',
      jobId: job.id ?? '',
      provider: 'sim',
      model: 'sim-gpt',
      route: 'direct',
      attempts: 1,
      id: `chatcmpl-${job.data.request.requestId}`,
      created: 1,
      ...overrides,
    };
  }

  result(request: GenerationRequest, text: string, overrides: Partial<GenerationResult> = {}): GenerationResult {
    return {
      requestId: request.requestId,
      id: `chatcmpl-${request.requestId}`,
      created: 1_700_000_000,
      text,
      finishReason: 'stop',
      provider: 'sim',
      model: 'sim-gpt',
      route: 'direct',
      usage: { ...EMPTY_USAGE, promptTokens: 3, completionTokens: 2, totalTokens: 5 },
      costUsd: 0.000007,
      latencyMs: 12,
      providerLatencyMs: 10,
      attempts: [{ provider: 'sim', model: 'sim-gpt', route: 'direct', ok: true, latencyMs: 10, retries: 0 }],
      ...overrides,
    };
  }

  /**
   * Fails as the real worker does: an `error` message on the reply channel, and the failed outcome with the abort's
   * cause (null: the generation was not aborted).
   */
  async fail(
    job: GenerateJob,
    error: ErrorBody,
    retryAfterMs?: number,
    abortCause: AbortCause | null = null,
  ): Promise<GenerateOutcome> {
    await this.publish(job, { t: 'error', jobId: job.id ?? '', error, retryAfterMs });
    return retryAfterMs === undefined
      ? { ok: false, error, abortCause }
      : { ok: false, error, retryAfterMs, abortCause };
  }

  /** Fails as the real worker does when it aborted the generation because its client left. */
  failClientGone(job: GenerateJob): Promise<GenerateOutcome> {
    const error: ErrorBody = {
      message: CLIENT_GONE_MESSAGE,
      type: 'timeout_error',
      code: ErrorCode.Timeout,
      param: null,
    };
    return this.fail(job, error, undefined, 'client_disconnected');
  }

  /** Answers as the real worker does: `result`, or `start` + word chunks + `end` for a stream. */
  async answer(job: GenerateJob, text: string, opts: { publish?: boolean } = {}): Promise<GenerateOutcome> {
    const jobId = job.id ?? '';
    const request = job.data.request;
    const result = this.result(request, text);
    if (opts.publish !== false) {
      if (request.stream) {
        await this.publish(job, this.startMessage(job));
        const words = text.split(/(?= )/);
        for (let seq = 0; seq < words.length; seq++) {
          await this.publish(job, { t: 'chunk', jobId, seq, text: words[seq] });
        }
        await this.publish(job, { t: 'end', jobId, result });
      } else {
        await this.publish(job, { t: 'result', jobId, result });
      }
    }
    return { ok: true, result };
  }

  /** Resolves when a cancel for `jobId` arrived (or after `timeoutMs`), so hanging jobs end with the test. */
  async cancelled(jobId: string, timeoutMs = 10_000): Promise<boolean> {
    return waitFor(() => this.cancels.some((c) => c.jobId === jobId), { timeoutMs, intervalMs: 20 }).then(
      () => true,
      () => false,
    );
  }

  headers(key = this.adminKey, extra: Record<string, string> = {}): Record<string, string> {
    return { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...extra };
  }

  post(
    route: string,
    body: unknown,
    headers: Record<string, string> = this.headers(),
    signal?: AbortSignal,
  ): Promise<Response> {
    return fetch(`${this.url}${route}`, {
      method: 'POST',
      headers,
      body: typeof body === 'string' ? body : JSON.stringify(body),
      signal,
    });
  }

  /**
   * Writes `request` on a fresh connection and reads what comes back until the server closes its side, or until
   * `opts.done` says what came so far is all the test needs (the socket is then destroyed). `halfClose`: end the
   * socket once the request is written (the FIN `nc -N` sends). An error after some bytes resolves with them.
   */
  raw(request: string, opts: { halfClose?: boolean; done?: (got: string) => boolean } = {}): Promise<string> {
    const url = new URL(this.url);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname, () =>
        opts.halfClose === true ? socket.end(request) : socket.write(request),
      );
      let got = '';
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => {
        got += d;
        if (opts.done?.(got) === true) {
          socket.destroy();
        }
      });
      socket.on('close', () => resolve(got));
      socket.on('error', (err) => (got === '' ? reject(err) : resolve(got)));
    });
  }

  get(route: string, headers: Record<string, string> = this.headers()): Promise<Response> {
    return fetch(`${this.url}${route}`, { headers });
  }

  /** A fresh API key of a plain user. */
  async userKey(userName: string): Promise<string> {
    const created = await this.app.get(ApiKeyStore).create({ userName, role: 'user' });
    return created.key;
  }

  async closeApp(): Promise<void> {
    if (!this.appClosed) {
      this.appClosed = true;
      await this.app.close();
    }
  }

  async stop(): Promise<void> {
    await this.closeApp().catch(() => undefined);
    await this.worker.close();
    await this.queue.close();
    await this.workerConnection.quit();
    await this.control.quit();
    await deleteRedisKeysOf(this.redis, this.prefix);
    await this.redis.quit();
    await this.sim.stop();
    rmSync(this.dir, { recursive: true, force: true });
    await dropSchema(DATABASE_URL, this.schema);
  }
}

export function lastUserText(request: GenerationRequest): string {
  const last = request.messages[request.messages.length - 1];
  return typeof last?.content === 'string' ? last.content : '';
}

export function chat(content: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: 'sim-gpt', messages: [{ role: 'user', content }], ...extra };
}

/** The SSE events of a finished response, with `data` parsed where it is JSON. */
export async function sseEvents(res: Response): Promise<{ events: SseEvent[]; payloads: unknown[] }> {
  const events = parseSse(await res.text());
  const payloads = events.map((e) => (e.data === '[DONE]' ? '[DONE]' : (JSON.parse(e.data) as unknown)));
  return { events, payloads };
}

/** Reads a streamed body until it holds `text` (or ends); what was read. The rest stays unread. */
export async function readUntil(res: Response, text: string): Promise<string> {
  const reader = res.body?.getReader();
  let received = '';
  while (!received.includes(text)) {
    const part = await reader?.read();
    if (!part || part.done) {
      break;
    }
    received += Buffer.from(part.value).toString();
  }
  return received;
}

export { sleep } from '@aigw/testing';
