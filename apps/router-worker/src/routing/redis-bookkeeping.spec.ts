import { ErrorCode, GatewayError } from '@aigw/core';
import { MigratedDatabase, RedisErrors, RedisKeys, type RedisOp } from '@aigw/platform';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import { AnswerStash, type KeptAnswer } from '../jobs/answer-stash';
import { ReplyChannel } from '../jobs/reply-channel';
import { DrainDeadline } from '../lifecycle/drain-deadline';
import { WorkerMetrics } from '../metrics/worker-metrics';
import { CircuitGuard } from './circuit-guard';
import { HistoricalLatency } from './historical-latency';
import { LatencyBook } from './latency-book';
import { ProviderQuotaBook } from './quota-book';
import { RotationCounter } from './rotation-counter';
import { RouteBook } from './route-book';
import type { RoutingConfig } from './routing-config';

/**
 * Every bookkeeping store of the worker against a Redis that fails every command (a real ioredis client
 * whose server is gone: no offline queue, so each command is refused with ioredis' own error). Each store
 * must report the failure under its op and carry on with its documented fallback, never throw.
 */
function deadRedis(): Redis {
  return new Redis({
    port: 1,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    disconnectTimeout: 10,
  });
}

function recordingErrors(): { errors: RedisErrors; ops: RedisOp[]; logged: string[] } {
  const ops: RedisOp[] = [];
  const logged: string[] = [];
  const logger = { warn: (m: string) => logged.push(m), log: (m: string) => logged.push(m) };
  const errors = new RedisErrors(logger, { inc: ({ op }) => ops.push(op) });
  return { errors, ops, logged };
}

const config = {
  latencyAlpha: 0.3,
  circuit: {
    failureThreshold: 5,
    failureRate: 0.5,
    windowMs: 60_000,
    minVolume: 20,
    openMs: 60_000,
    halfOpenMaxProbes: 1,
    probeTtlMs: 120_000,
  },
} as RoutingConfig;

const keys = new RedisKeys('spec');
/** Resolves once the fire-and-forget writes had their turn. */
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 10));

describe('worker bookkeeping while Redis fails: reported and swallowed', () => {
  let redis: Redis;
  let reporter: ReturnType<typeof recordingErrors>;

  beforeEach(() => {
    redis = deadRedis();
    redis.on('error', () => undefined);
    reporter = recordingErrors();
  });
  afterEach(() => redis.disconnect());

  it('CircuitGuard: reads every circuit closed, admits the call, records nothing', async () => {
    const guard = new CircuitGuard(redis, keys, config, new WorkerMetrics(new Registry()), reporter.errors);
    await expect(guard.states(['p/a', 'p/b'])).resolves.toEqual(new Map());
    await expect(guard.acquire('p/a')).resolves.toEqual({ allowed: true, probeId: null, retryAfterMs: null });
    // Nothing known about the circuit: it does not say open (the retry asks again, and is admitted).
    await expect(guard.settle('p/a', null, 'failure')).resolves.toBe(false);
    await expect(guard.settle('p/a', 'probe-1', 'success')).resolves.toBe(false);
    await expect(guard.settle('p/a', 'probe-1', 'neutral')).resolves.toBe(false);
    // A plain success waits for the batch; its failed write is reported once it is written.
    await expect(guard.settle('p/a', null, 'success')).resolves.toBe(false);
    expect(reporter.ops).toHaveLength(5);
    await expect(guard.flush()).resolves.toBeUndefined();
    expect(reporter.ops).toEqual([
      'circuit_read',
      'circuit_acquire',
      'circuit_record',
      'circuit_record',
      'circuit_record',
      'circuit_record',
    ]);
  });

  it('LatencyBook: drops the sample (harmless) and reads no recent averages', async () => {
    const history = new HistoricalLatency(new MigratedDatabase({} as DataSource));
    const book = new LatencyBook(redis, keys, config, history, reporter.errors);
    expect(() => book.record('p/a', false, 120)).not.toThrow();
    await expect(book.flush()).resolves.toBeUndefined();
    await expect(book.recent(['p/a'], true)).resolves.toEqual(new Map());
    expect(reporter.ops).toEqual(['latency_record', 'latency_read']);
  });

  it('RotationCounter: starts at random instead of failing', async () => {
    const counter = new RotationCounter(redis, keys, reporter.errors);
    const n = await counter.next('auto');
    expect(Number.isInteger(n)).toBe(true);
    expect(reporter.ops).toEqual(['rotation']);
  });

  it('RouteBook: remembers nothing, tries direct first', async () => {
    const book = new RouteBook(redis, keys, reporter.errors);
    await expect(book.remembered('zai')).resolves.toBeNull();
    expect(() => book.remember('zai', 'gateway')).not.toThrow();
    await settle();
    expect(reporter.ops).toEqual(['route_read', 'route_record']);
  });

  it('ProviderQuotaBook: observing never touches Redis; a failed flush is reported and kept for the next', async () => {
    const book = new ProviderQuotaBook(redis, keys, reporter.errors);
    const observe = book.observer('openai', 'direct');
    expect(() =>
      observe(200, { 'x-ratelimit-limit-requests': '100', 'x-ratelimit-remaining-requests': '7' }),
    ).not.toThrow();
    expect(reporter.ops).toEqual([]);
    await expect(book.flush()).resolves.toBeUndefined();
    await expect(book.flush()).resolves.toBeUndefined();
    expect(reporter.ops).toEqual(['provider_quota', 'provider_quota']);
    expect([...book.snapshots()].map((s) => [s.providerId, s.route, s.dirty, s.snapshot.requests?.remaining])).toEqual([
      ['openai', 'direct', true, 7],
    ]);
  });

  it('ReplyChannel: publishing never throws; settle hands the failure back for the caller to report', async () => {
    const reply = new ReplyChannel(redis, 'spec:reply:gw', 'job-1');
    expect(() => reply.onChunk({ text: 'hi' })).not.toThrow();
    expect(() =>
      reply.send({ t: 'error', jobId: 'job-1', error: new GatewayError(ErrorCode.Internal, 'x').toBody() }),
    ).not.toThrow();
    await expect(reply.settle()).resolves.toBeInstanceOf(Error);
  });

  it('AnswerStash: a failed read is no answer; a write retries until the shutdown grace runs out', async () => {
    const drain = new DrainDeadline();
    const stash = new AnswerStash(redis, keys, reporter.errors, drain);
    await expect(stash.find('job-1')).resolves.toBeNull();
    const kept = stash.keep('job-1', { outcome: { ok: false, error: {} }, usage: {} } as KeptAnswer);
    await new Promise((r) => setTimeout(r, 350));
    // Tried, and tried again with backoff (100, 200 ms) while it waits.
    expect(reporter.ops.filter((op) => op === 'answer_stash').length).toBeGreaterThanOrEqual(3);
    drain.pass();
    await expect(kept).rejects.toThrow('not stored');
  });

  it('logs one line for the whole outage, however many commands failed', async () => {
    const guard = new CircuitGuard(redis, keys, config, new WorkerMetrics(new Registry()), reporter.errors);
    for (let i = 0; i < 20; i++) {
      await guard.acquire('p/a');
    }
    expect(reporter.ops).toHaveLength(20);
    expect(reporter.logged).toHaveLength(1);
    expect(reporter.logged[0]).toContain('Redis unavailable (circuit_acquire');
  });
});
