import {
  acquireCircuit,
  closedCircuit,
  EMPTY_USAGE,
  ProviderCallError,
  recordCircuitCooldown,
  recordCircuitFailure,
  recordCircuitSuccess,
  releaseCircuitProbe,
  type CircuitConfig,
  type CircuitCooldown,
  type CircuitData,
  type Deployment,
  ErrorClass,
  type GatewaySpec,
  type ProviderKind,
  type Route,
  type StreamDelta,
} from '@aigw/core';
import type { AdapterRequest, AdapterResponse, CallerSignal, ProviderAdapter } from '@aigw/adapters';
import { AttemptLoop, type AttemptLoopDeps } from './attempt-loop';
import type { CallPermit, CallVerdict, CircuitPort } from './circuit-guard';

/*
 * Test doubles for the attempt loop (unit specs only): a scripted adapter that fails the test on any call it
 * was not told about, the core circuit state machine in memory, and a clock that only moves when told.
 */

/**
 * What one scripted call does; `during` runs once its `ms` have passed, before it ends (an abort meanwhile).
 * `sentAfterMs`: how far into its `ms` its request was written to the provider (`target.sent`; before it, the call
 * waited for a connection of its pool): 0 unless told; null: never (cut while it waited).
 */
export type Step = (
  | { answer: string; ms?: number }
  | { fail: ProviderCallError; ms?: number }
  /** Streams: these chunks, then (optionally) a failure. */
  | { chunks: string[]; failAfter?: ProviderCallError; ms?: number }
) & { during?: () => void; sentAfterMs?: number | null };

export function failure(errorClass: ErrorClass, status?: number, retryAfterMs?: number): ProviderCallError {
  return new ProviderCallError(errorClass, `simulated ${errorClass}`, { status, retryAfterMs });
}

export interface Call {
  baseUrl: string;
  model: string;
  apiKey?: string;
  kind: ProviderKind;
  stream: boolean;
}

export class ScriptedAdapters {
  readonly calls: Call[] = [];
  readonly unexpected: string[] = [];
  private readonly scripts = new Map<string, Step[]>();

  constructor(private readonly clock: FakeClock) {}

  /** Scripted steps nobody called for: a test expecting calls that did not happen. */
  leftover(): string[] {
    return [...this.scripts].filter(([, steps]) => steps.length > 0).map(([url, steps]) => `${url} x${steps.length}`);
  }

  /** Steps for calls to this base URL, in order. */
  script(baseUrl: string, ...steps: Step[]): this {
    this.scripts.set(baseUrl, [...(this.scripts.get(baseUrl) ?? []), ...steps]);
    return this;
  }

  private next(req: AdapterRequest, kind: ProviderKind, stream: boolean): Step {
    const { baseUrl, model, apiKey } = req.target;
    this.calls.push({ baseUrl, model, apiKey, kind, stream });
    const step = this.scripts.get(baseUrl)?.shift();
    if (step === undefined) {
      this.unexpected.push(`${kind} ${baseUrl} ${model}`);
      throw new Error(`unexpected call to ${baseUrl}`);
    }
    const ms = step.ms ?? 10;
    const sentAfterMs = step.sentAfterMs === undefined ? 0 : step.sentAfterMs;
    if (sentAfterMs === null) {
      this.clock.advance(ms);
    } else {
      this.clock.advance(sentAfterMs);
      req.target.sent?.();
      this.clock.advance(ms - sentAfterMs);
    }
    step.during?.();
    // What a real adapter does once response headers are in (openCall); a failure without a status had none.
    const status = 'fail' in step ? step.fail.status : 200;
    if (status !== undefined) {
      req.target.observe?.(status, {});
    }
    return step;
  }

  get(kind: ProviderKind): ProviderAdapter {
    const generate = (req: AdapterRequest, signal: CallerSignal): Promise<AdapterResponse> => {
      if (signal.aborted) {
        throw signal.reason;
      }
      const step = this.next(req, kind, false);
      if ('fail' in step) {
        return Promise.reject(step.fail);
      }
      if (!('answer' in step)) {
        throw new Error('a stream step was scripted for a non-streamed call');
      }
      return Promise.resolve({ id: 'cmpl-1', created: 1, text: step.answer, finishReason: 'stop', usage: EMPTY_USAGE });
    };
    const next = (req: AdapterRequest): Step => this.next(req, kind, true);
    return {
      kind,
      generate,
      async *stream(req: AdapterRequest): AsyncIterable<StreamDelta> {
        const step = next(req);
        if ('fail' in step) {
          throw step.fail;
        }
        if (!('chunks' in step)) {
          throw new Error('a non-stream step was scripted for a stream');
        }
        for (const [i, text] of step.chunks.entries()) {
          yield i === 0 ? { text, id: 'cmpl-s' } : { text };
          await Promise.resolve();
        }
        if (step.failAfter) {
          throw step.failAfter;
        }
        yield { text: '', finishReason: 'stop' };
      },
      listModels: () => Promise.reject(new Error('unexpected listModels')),
      healthCheck: () => Promise.reject(new Error('unexpected healthCheck')),
      classifyError: (err: unknown) =>
        err instanceof ProviderCallError
          ? err
          : new ProviderCallError(ErrorClass.Provider, err instanceof Error ? err.message : 'unknown'),
    };
  }
}

export class FakeClock {
  constructor(public t = 1_700_000_000_000) {}
  advance(ms: number): void {
    this.t += ms;
  }
  now = (): number => this.t;
  monotonic = (): number => this.t;
}

/** The core state machine, in memory, with the fake clock: the same transitions the Redis store runs. */
export class MemoryCircuits implements CircuitPort {
  readonly data = new Map<string, CircuitData>();
  readonly settled: { id: string; verdict: CallVerdict; probe: boolean }[] = [];
  private probes = 0;
  /**
   * How far the store's clock is from the loop's (ms): the Redis store times circuits by the Redis clock, which may
   * advance a little less than a worker's sleep measured (a Node timer fires up to 1 ms early).
   */
  storeSkewMs = 0;

  constructor(
    private readonly fakeClock: FakeClock,
    private readonly cfg: CircuitConfig,
  ) {}

  /** The store's clock: the loop's, `storeSkewMs` off. */
  private get clock(): { t: number } {
    return { t: this.fakeClock.t + this.storeSkewMs };
  }

  private get(id: string): CircuitData {
    return this.data.get(id) ?? closedCircuit();
  }

  readonly acquired: string[] = [];

  acquire(id: string, slotMs = 0): Promise<CallPermit> {
    this.acquired.push(id);
    const step = acquireCircuit(this.get(id), this.clock.t, this.cfg, `p${++this.probes}`, slotMs);
    this.data.set(id, step.data);
    const { allowed, probeId, retryAfterMs } = step.permit;
    return Promise.resolve({ allowed, probeId, retryAfterMs });
  }

  settle(id: string, probeId: string | null, verdict: CallVerdict, cooldown?: CircuitCooldown): Promise<boolean> {
    this.settled.push({ id, verdict, probe: probeId !== null });
    const data = this.get(id);
    switch (verdict) {
      case 'success':
        this.data.set(id, recordCircuitSuccess(data, this.clock.t, this.cfg, probeId).data);
        break;
      case 'failure':
        this.data.set(id, recordCircuitFailure(data, this.clock.t, this.cfg, probeId).data);
        break;
      case 'neutral':
        this.data.set(id, probeId === null ? data : releaseCircuitProbe(data, probeId));
        break;
      case 'cooldown':
        if (cooldown === undefined) {
          throw new Error('a cooldown verdict needs its wait');
        }
        this.data.set(id, recordCircuitCooldown(data, this.clock.t, this.cfg, probeId, cooldown.ms, cooldown.status));
        break;
    }
    return Promise.resolve(verdict === 'failure' && this.get(id).state === 'open');
  }

  state(id: string): string {
    return this.get(id).state;
  }
}

export const TEST_CIRCUIT: CircuitConfig = {
  failureThreshold: 3,
  failureRate: 0.5,
  windowMs: 60_000,
  minVolume: 1000,
  openMs: 10_000,
  halfOpenMaxProbes: 1,
  probeTtlMs: 30_000,
};

/** An attempt loop over fakes, with everything it reported. */
export class LoopBench {
  readonly clock = new FakeClock();
  readonly adapters = new ScriptedAdapters(this.clock);
  readonly circuits: MemoryCircuits;
  readonly sleeps: number[] = [];
  readonly latencies: { id: string; stream: boolean; ms: number }[] = [];
  readonly remembered = new Map<string, Route>();
  readonly events: string[] = [];
  /** `provider route status` of every response the calls showed their quota observer. */
  readonly observed: string[] = [];
  gateways: GatewaySpec[] = [];
  /** Aborts this controller when a sleep reaches this epoch ms. */
  abortAt: { at: number; controller: AbortController; reason: unknown } | null = null;
  /** Deployments the catalog in force no longer routes to (an admin deleted or disabled them). */
  readonly withdrawn = new Set<string>();
  /** Deployments an admin changed (a key rotated, a base URL corrected): what the catalog in force has for the id. */
  readonly replaced = new Map<string, Deployment>();
  /** Runs after each sleep (a catalog reload landing while the loop waits). */
  onSleep: (() => void) | null = null;
  readonly loop: AttemptLoop;

  constructor(opts: { maxAttempts?: number; maxRetries?: number; circuit?: Partial<CircuitConfig> } = {}) {
    const circuit = { ...TEST_CIRCUIT, ...opts.circuit };
    this.circuits = new MemoryCircuits(this.clock, circuit);
    const deps: AttemptLoopDeps = {
      adapters: this.adapters,
      circuit: this.circuits,
      routes: {
        remembered: (p) => Promise.resolve(this.remembered.get(p) ?? null),
        remember: (p, r) => void this.remembered.set(p, r),
      },
      latency: { record: (id, stream, ms) => void this.latencies.push({ id, stream, ms }) },
      quota: { observer: (provider, route) => (status) => void this.observed.push(`${provider} ${route} ${status}`) },
      gateways: () => this.gateways,
      inForce: (d) => (this.withdrawn.has(d.id) ? undefined : (this.replaced.get(d.id) ?? d)),
      events: {
        call: (d, status) => void this.events.push(`call ${d.id} ${status}`),
        retry: (d, c) => void this.events.push(`retry ${d.id} ${c}`),
        fallback: (d, c, kind) => void this.events.push(`fallback ${kind} ${d.id} ${c}`),
      },
      clock: this.clock,
      sleep: (ms) => {
        this.sleeps.push(ms);
        this.clock.advance(ms);
        if (this.abortAt && this.clock.t >= this.abortAt.at) {
          this.abortAt.controller.abort(this.abortAt.reason);
        }
        this.onSleep?.();
        return Promise.resolve();
      },
      // Mid-range jitter: delays are half their cap, so tests can tell them apart.
      random: () => 0.5,
      config: {
        maxAttempts: opts.maxAttempts ?? 3,
        retry: { maxRetries: opts.maxRetries ?? 2, baseMs: 100, maxMs: 1000, minCallMs: 500 },
        cooldownMaxMs: circuit.openMs,
      },
    };
    this.loop = new AttemptLoop(deps);
  }
}
