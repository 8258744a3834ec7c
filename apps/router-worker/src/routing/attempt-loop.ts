import {
  cooldownHeldMs,
  cooldownRetryMarginMs,
  ErrorClass,
  estimateRequestTokens,
  fitsDeadline,
  GatewayError,
  planRetry,
  ProviderCallError,
  refusedForCapacity,
  requestNeedsOf,
  type Attempt,
  type Charge,
  type Deployment,
  type GatewaySpec,
  type GenerationRequest,
  type RetryOptions,
  type Route,
  type Usage,
  costOf,
  merged,
} from '@aigw/core';
import { isConnectTimeout } from '@aigw/adapters';
import { abortCauseOf } from '../cancel/abort';
import { failedAttempt, spentOf, successAttempt, type ProviderAnswer, type Routed } from '../generation/outcomes';
import type { CallObserver, StreamObserver } from '../generation/stream-observer';
import type { AdapterSource, AttemptClock, AttemptEvents } from './attempt-ports';
import type { CallPermit, CircuitPort } from './circuit-guard';
import type { LatencySink } from './latency-book';
import type { QuotaObservers } from './quota-book';
import { callProvider } from './provider-call';
import type { RouteMemoryPort } from './route-book';
import { routeOptions, routesCarrying, type RouteOption } from './route-options';
import {
  allProvidersFailed,
  cancelledFailure,
  contextLengthFailure,
  everyFailureNotFound,
  everyFailureTooLongOrNotFound,
  type HeldBack,
  invalidRequestFailure,
  midStreamFailure,
  modelNotServed,
  noHealthyProvider,
  untranslatableFailure,
} from './routing-failures';
import type { CallerSignal } from '@aigw/adapters';

export interface AttemptLoopDeps {
  adapters: AdapterSource;
  circuit: CircuitPort;
  routes: RouteMemoryPort;
  latency: LatencySink;
  quota: QuotaObservers;
  gateways(): readonly GatewaySpec[];
  /**
   * `d` as the catalog in force has it, undefined when it no longer routes to it: an admin may delete, disable or
   * change it (rotate its key, correct its URL) while a request that planned it runs. Asked before every call (in
   * memory, no round trip); the call is made with what it answers.
   */
  inForce(d: Deployment): Deployment | undefined;
  events: AttemptEvents;
  clock: AttemptClock;
  /** Resolves after `ms` or as soon as `signal` aborts; never rejects. */
  sleep(ms: number, signal: CallerSignal): Promise<void>;
  random(): number;
  /** `cooldownMaxMs`: how long a provider's asked-for wait sets a deployment aside at most (CB_OPEN_MS). */
  config: { maxAttempts: number; retry: RetryOptions; cooldownMaxMs: number };
}

type DeploymentOutcome =
  | { kind: 'ok'; routed: Routed }
  | { kind: 'refused'; retryAfterMs: number | null }
  | {
      kind: 'failed';
      error: ProviderCallError;
      committed: boolean;
      partial?: ProviderAnswer;
      /** Its retry was left for after the other candidates: it may be called again this long after now. */
      defer?: { ms: number; calls: number };
      /**
       * When the cooldown its last call's failure wrote ends (epoch ms): its provider asked for a wait (a 429, 503 or
       * 529 with Retry-After), and no worker calls the deployment before then. Absent when it asked for none.
       */
      waitEnd?: number;
    };

/**
 * A deployment to try: a candidate in plan order, or one whose long retry wait was deferred, due `at` (epoch ms),
 * its retries counted on from the `calls` already made.
 */
interface Turn {
  d: Deployment;
  at?: number;
  calls?: number;
  /** With `at`: the class of the failure whose retry was deferred (the retry is counted under it). */
  errorClass?: ErrorClass;
}

interface Failed {
  d: Deployment;
  error: ProviderCallError;
}

const NONE_CLOSED: ReadonlySet<string> = new Set();
const ADMITTED: CallPermit = { allowed: true, probeId: null, retryAfterMs: null };
/** A deployment deleted or disabled since the plan: refused like an open circuit, without asking it. */
const WITHDRAWN: CallPermit = { allowed: false, probeId: null, retryAfterMs: null };

/**
 * What the calls of one request left behind: every attempt, those that never reached their provider, and what failed
 * calls were charged for (`ProviderCallError.charged`), per attempt.
 */
interface AttemptLog {
  attempts: Attempt[];
  unreached: Set<Attempt>;
  charged: Charge[];
  /**
   * The request's provider-dependent fields (requestNeedsOf), read once the first time a deployment has two routes
   * (an `auto` provider with its gateway) to choose those that carry them; never for the others.
   */
  params?: readonly string[];
}

/**
 * The call could not reach the provider: no connection, or none made in time (a host that drops connection attempts).
 * An `auto` provider's other route may work; and the failure says nothing of the provider's answer (allProvidersFailed).
 */
function neverReached(error: ProviderCallError): boolean {
  return error.errorClass === ErrorClass.Network || isConnectTimeout(error);
}

/**
 * What the request's failures leave for its answer's wait (`FailedCalls`): the time left of the soonest cooldown among
 * the deployments tried, each as its latest failure left it (an earlier one was waited out before it was called
 * again); a cooldown already over is a deployment that may be called now, as one that named no wait.
 */
function waitsOf(waitEnds: ReadonlyMap<string, number | null>, now: number): { waitMs?: number; over: boolean } {
  let soonest = Infinity;
  for (const end of waitEnds.values()) {
    if (end !== null && end < soonest) {
      soonest = end;
    }
  }
  if (soonest === Infinity) {
    return { over: false };
  }
  return soonest <= now ? { over: true } : { waitMs: soonest - now, over: false };
}

/** Used when every candidate refused without saying for how long (all half-open probe slots taken). */
const DEFAULT_REFUSED_RETRY_AFTER_MS = 1000;

/**
 * The fallback chain: tries ordered candidates, at most `maxAttempts` deployments. Per deployment: asks its
 * circuit before every call (a refusal skips it), retries retryable failures with jittered backoff within
 * the deadline, switches an `auto` provider to its other route on a network failure, and reports every call
 * to the circuit (provider-side failures only) and every success to the latency averages.
 *
 * A provider that asks for a long wait (a Retry-After longer than the first backoff, e.g. a rate limit's), that rate
 * limited the call without naming a wait, or that timed out, is not retried while another candidate may still
 * answer: the others are tried first, and it is retried after its wait (within the deadline, its retries counted on)
 * only when none answered.
 *
 * An invalid request fails at once (it would fail everywhere), unless the adapter refused it before sending (its
 * wire format cannot express it: the next deployment may); a context-length failure only moves on to
 * deployments with a larger context window; a stream that already reached the client ends with an error.
 */
export class AttemptLoop {
  constructor(private readonly deps: AttemptLoopDeps) {}

  async run(
    candidates: readonly Deployment[],
    request: GenerationRequest,
    signal: CallerSignal,
    observer?: StreamObserver,
    closedAtPlan: ReadonlySet<string> = NONE_CLOSED,
    // The plan's (RoutePlan.estimate.promptTokens): a stream cut after it reached the client is billed with it when
    // its provider reported no prompt count. Counted here only for a caller without a plan.
    promptEstimate?: number,
    // The plan's (RoutePlan.heldBack): the answer its circuits gave for the deployments it left out, if it left any.
    heldBack: HeldBack | null = null,
  ): Promise<Routed> {
    const log: AttemptLog = { attempts: [], unreached: new Set(), charged: [] };
    try {
      const routed = await this.route(
        log,
        candidates,
        request,
        signal,
        observer,
        closedAtPlan,
        promptEstimate,
        heldBack,
      );
      if (log.charged.length > 0) {
        routed.charged = log.charged;
      }
      return routed;
    } catch (err) {
      // Failed calls charged for are billed with the failure too (usageEventOf).
      if (err instanceof GatewayError && log.charged.length > 0) {
        err.charged = log.charged;
      }
      throw err;
    }
  }

  private async route(
    log: AttemptLog,
    candidates: readonly Deployment[],
    request: GenerationRequest,
    signal: CallerSignal,
    observer: StreamObserver | undefined,
    closedAtPlan: ReadonlySet<string>,
    promptEstimate: number | undefined,
    heldBack: HeldBack | null,
  ): Promise<Routed> {
    const { attempts, unreached } = log;
    let tried = 0;
    let refusedRetryAfter: number | null = null;
    let tooSmallWindow = 0;
    // The latest context-length failure, for the answer when the only other failures are deployments without the model.
    let tooLong: ProviderCallError | null = null;
    let last: Failed | null = null;
    // A failed deployment, until the next one is tried (that counts as one fallback).
    let movingOn: Failed | null = null;
    // Per deployment tried, when the cooldown its latest failure wrote ends (epoch ms), null for none.
    const waitEnds = new Map<string, number | null>();
    // A deployment refused for capacity without naming a wait: the client's may not be a longer one (allProvidersFailed).
    let unnamedWait = false;
    // The first refusal by an adapter that cannot express the request: the answer when no other deployment takes it.
    let untranslatable: ProviderCallError | null = null;
    const turns: Turn[] = candidates.map((d) => ({ d }));
    for (let i = 0; i < turns.length; i++) {
      const { d, at, calls, errorClass: deferredFor } = turns[i];
      const revisit = at !== undefined;
      // A window no larger than one that found the request too long cannot hold it: nor a deferred deployment's, whose
      // wait (and second call) would answer a 429 or a 502 for a request the client must shorten.
      if ((!revisit && tried >= this.deps.config.maxAttempts) || d.model.contextWindow <= tooSmallWindow) {
        continue;
      }
      if (signal.aborted) {
        throw cancelledFailure(signal, attempts);
      }
      if (revisit) {
        if (this.deps.inForce(d) === undefined) {
          // Deleted or disabled meanwhile: no wait for a call that would not be made.
          continue;
        }
        // Every other candidate failed: wait out what this one asked for, if the deadline leaves a call after it.
        const waitMs = Math.max(0, at - this.deps.clock.now());
        if (!fitsDeadline(this.deps.clock.now(), waitMs, request.deadlineAt, this.deps.config.retry.minCallMs)) {
          continue;
        }
        this.deps.events.retry(d, deferredFor ?? ErrorClass.RateLimit);
        await this.deps.sleep(waitMs, signal);
        if (signal.aborted) {
          throw cancelledFailure(signal, attempts);
        }
      }
      if (movingOn !== null) {
        this.deps.events.fallback(movingOn.d, movingOn.error.errorClass, 'deployment');
        movingOn = null;
      }
      // Only a first try defers, and only while another first try may follow or a deferred deployment waits its second
      // turn (which may answer sooner than this one's wait: the last candidate's Retry-After of seconds was waited out
      // in place, ahead of a deferred retry due in milliseconds).
      const mayDefer =
        !revisit &&
        ((i + 1 < candidates.length && tried + 1 < this.deps.config.maxAttempts) || turns.length > candidates.length);
      const outcome = await this.tryDeployment(d, request, signal, observer, log, {
        // The plan's read is as fresh as the request's first call: a fallback comes after calls and retries that may
        // have taken the deployment's timeout and more, while other workers' failures opened its circuit (or a
        // provider asked for a wait). It asks, as retries do: one script call, on the failure path only.
        closedAtPlan: !revisit && attempts.length === 0 && closedAtPlan.has(d.id),
        mayDefer,
        callsBefore: calls ?? 0,
      });
      if (outcome.kind === 'ok') {
        return outcome.routed;
      }
      if (outcome.kind === 'refused') {
        if (outcome.retryAfterMs !== null) {
          refusedRetryAfter = Math.min(refusedRetryAfter ?? Infinity, outcome.retryAfterMs);
        }
        continue;
      }
      if (outcome.error.untranslatable) {
        // This deployment's wire format cannot express the request; it was never sent. Others may serve it.
        untranslatable ??= outcome.error;
        continue;
      }
      // A deployment without the model (its 404) answered at once and will never serve the request: like one that
      // cannot express it, it does not use up the budget of those that may (maxAttempts).
      if (!revisit && outcome.error.errorClass !== ErrorClass.NotFound) {
        tried++;
      }
      const { error } = outcome;
      // A stream cut after it reached the client was generated all the same, and the batches of an embeddings request
      // before the one that failed were charged for: the bill goes with the failure.
      const spent =
        outcome.partial === undefined
          ? undefined
          : spentOf(
              d,
              outcome.partial,
              promptEstimate ?? estimateRequestTokens(request.messages, request.options.tools),
            );
      if (error.errorClass === ErrorClass.Cancelled || signal.aborted) {
        throw cancelledFailure(signal, attempts, error, spent);
      }
      if (outcome.committed) {
        throw midStreamFailure(d, error, attempts, spent, request.embeddings !== undefined);
      }
      if (error.errorClass === ErrorClass.InvalidRequest) {
        throw invalidRequestFailure(error, attempts);
      }
      if (error.errorClass === ErrorClass.ContextLength) {
        tooSmallWindow = Math.max(tooSmallWindow, d.model.contextWindow);
        tooLong = error;
      }
      waitEnds.set(d.id, outcome.waitEnd ?? null);
      unnamedWait ||= outcome.waitEnd === undefined && refusedForCapacity(error);
      last = { d, error };
      movingOn = last;
      if (outcome.defer !== undefined) {
        deferTurn(turns, candidates.length, {
          d,
          at: this.deps.clock.now() + outcome.defer.ms,
          calls: outcome.defer.calls,
          errorClass: error.errorClass,
        });
      }
    }
    if (last === null) {
      if (untranslatable !== null && refusedRetryAfter === null) {
        throw untranslatableFailure(untranslatable, attempts);
      }
      throw noHealthyProvider(request.model, refusedRetryAfter ?? DEFAULT_REFUSED_RETRY_AFTER_MS, attempts);
    }
    if (last.error.errorClass === ErrorClass.ContextLength) {
      throw contextLengthFailure(last.error, attempts, request.embeddings !== undefined);
    }
    if (everyFailureNotFound(attempts)) {
      // Deployments that serve the model were refused a call by their circuits (open, cooling down), here or when the
      // plan left them out: the model is served, not now. Their answer (503 no_healthy_provider, or the providers' 429
      // or 503 with their wait) is the client's, whose SDK retries it; a 404 said the model does not exist.
      if (refusedRetryAfter !== null) {
        throw noHealthyProvider(request.model, refusedRetryAfter, attempts);
      }
      if (heldBack !== null) {
        throw heldBack(attempts);
      }
      throw modelNotServed(request.model, attempts, last.error);
    }
    if (tooLong !== null && everyFailureTooLongOrNotFound(attempts)) {
      // Too long where the model is, and not there where the window is larger (a 404 after or before it): the
      // client's request to shorten, as when the too-long answer came last.
      throw contextLengthFailure(tooLong, attempts, request.embeddings !== undefined);
    }
    const { waitMs, over } = waitsOf(waitEnds, this.deps.clock.now());
    throw allProvidersFailed(attempts, last.error, { waitMs, unnamedWait: unnamedWait || over, unreached });
  }

  /** One deployment: its routes in order, with retries; pushes one attempt per route it called. */
  private async tryDeployment(
    planned: Deployment,
    request: GenerationRequest,
    signal: CallerSignal,
    observer: StreamObserver | undefined,
    log: AttemptLog,
    turn: { closedAtPlan: boolean; mayDefer: boolean; callsBefore: number },
  ): Promise<DeploymentOutcome> {
    const { closedAtPlan, mayDefer, callsBefore } = turn;
    const { attempts } = log;
    const { clock } = this.deps;
    // The deployment as the catalog in force has it, asked again before every call (see inForce).
    let d = planned;
    const remembered = d.provider.routing === 'auto' ? await this.deps.routes.remembered(d.provider.id) : null;
    const carrying = (all: RouteOption[], of: Deployment): RouteOption[] =>
      all.length < 2 ? all : routesCarrying(all, of, (log.params ??= requestNeedsOf(request).params));
    let options = carrying(routeOptions(d, this.deps.gateways(), remembered), d);
    if (options.length === 0) {
      const error = new ProviderCallError(
        ErrorClass.Gateway,
        `gateway '${d.provider.gateway ?? ''}' of provider '${d.provider.id}' is not configured`,
      );
      attempts.push(failedAttempt(d, 'gateway', error, 0, 0));
      return { kind: 'failed', error, committed: false };
    }
    let index = 0;
    // Calls made on the current route, and when the first of them started (an attempt covers its retries). A
    // deferred deployment's second turn counts on from its first's.
    let calls = callsBefore;
    let started = clock.monotonic();
    let lastError: ProviderCallError | null = null;
    // When the cooldown lastError wrote ends, if it wrote one.
    let waitEnd: number | undefined;
    // What the failed calls of the attempt under way were charged for (rare: null until one was).
    let charged: Charge | null = null;
    const record = (route: Route, error: ProviderCallError | null): void => {
      const ms = clock.monotonic() - started;
      const retries = Math.max(0, calls - 1);
      if (charged !== null) {
        charged.attempt = attempts.length;
        log.charged.push(charged);
        charged = null;
      }
      if (error === null) {
        attempts.push(successAttempt(d, route, ms, retries));
        return;
      }
      const attempt = failedAttempt(d, route, error, ms, retries);
      attempts.push(attempt);
      if (neverReached(error)) {
        log.unreached.add(attempt);
      }
    };
    for (;;) {
      // A deployment an admin deleted or disabled since the plan gets no call, not even a retry; one changed since
      // (a rotated key, a corrected URL, another gateway) is called as it is now, on the same route if it still has
      // it. The plan just read this circuit closed (and no call was made since): its first call is admitted without
      // asking again. Retries, route switches and fallbacks follow failures, so they ask.
      const current = this.deps.inForce(d);
      let withdrawn = current === undefined;
      if (current !== undefined && current !== d) {
        const route = options[index].route;
        const now = carrying(routeOptions(current, this.deps.gateways(), remembered), current);
        const at = now.findIndex((o) => o.route === route);
        // The route being called is one the deployment no longer has: withdrawn too.
        withdrawn = at < 0;
        if (!withdrawn) {
          [d, options, index] = [current, now, at];
        }
      }
      const option = options[index];
      const permit = withdrawn
        ? WITHDRAWN
        : closedAtPlan && calls === 0 && index === 0
          ? ADMITTED
          : await this.deps.circuit.acquire(d.id, probeSlotMs(option.target.timeoutMs));
      if (!permit.allowed) {
        if (lastError === null) {
          return { kind: 'refused', retryAfterMs: permit.retryAfterMs };
        }
        // Withdrawn, or the circuit opened while retrying (our failures or another worker's): stop calling it.
        if (calls > 0) {
          record(option.route, lastError);
        }
        return { kind: 'failed', error: lastError, committed: false, waitEnd };
      }
      calls++;
      const callObserver = observer && withAttemptCount(observer, attempts.length + 1);
      const call = await callProvider(this.deps, {
        deployment: d,
        option,
        request,
        signal,
        observer: callObserver,
        probeId: permit.probeId,
      });
      if (call.ok) {
        record(option.route, null);
        if (option.route !== options[0].route) {
          this.deps.routes.remember(d.provider.id, option.route);
        }
        const routed = {
          deployment: d,
          route: option.route,
          answer: call.answer,
          attempts,
          providerLatencyMs: call.ms,
        };
        return { kind: 'ok', routed };
      }
      const { error } = call;
      lastError = error;
      // The cooldown as the store holds it (at most CB_OPEN_MS): the answer's Retry-After if the request ends here.
      waitEnd =
        call.cooldown === null
          ? undefined
          : clock.now() + cooldownHeldMs(call.cooldown.ms, this.deps.config.cooldownMaxMs);
      if (error.charged !== undefined && !call.committed) {
        // Failed, but billed by its provider: retried and failed over all the same, and billed with the request.
        charged = addCharge(charged, d, error.charged);
      }
      if (call.committed) {
        record(option.route, error);
        return { kind: 'failed', error, committed: true, partial: call.partial };
      }
      // The route itself failed (no connection, or none made in time), or its server lacks the model (a LiteLLM proxy
      // whose model list does not have it, or the provider's own API without it): an `auto` provider's other route
      // may work.
      if ((neverReached(error) || error.errorClass === ErrorClass.NotFound) && index + 1 < options.length) {
        record(option.route, error);
        this.deps.events.fallback(d, error.errorClass, 'route');
        index++;
        calls = 0;
        started = clock.monotonic();
        continue;
      }
      const { retry: retryOptions, cooldownMaxMs } = this.deps.config;
      const random = (): number => this.deps.random();
      const decision = planRetry(error, calls, clock.now(), request.deadlineAt, retryOptions, random);
      // A wait longer than the longest the gateway sets a deployment aside for (CB_OPEN_MS) is not waited out here
      // either: the request moves on, or answers with the wait held. The deadline alone judged it, and an async job's
      // is a day away: a daily quota's Retry-After of an hour fitted, and the job slept that hour (once per retry) in
      // one of the worker's WORKER_CONCURRENCY slots, which enough such jobs would all fill. Nor is it shortened to
      // the cooldown held: a provider that named an hour would refuse the retry, after a wait for nothing. The same holds
      // for any wait a provider named, a 500's or 504's Retry-After too, which sets nothing aside (`circuitCooldownOf`).
      const outlasts = (call.cooldown?.ms ?? error.retryAfterMs ?? 0) > cooldownMaxMs;
      // A circuit this failure left open would refuse the retry: waiting for it (a Retry-After may ask for many
      // seconds) would only delay the fallback, or the error.
      if (!decision.retry || call.circuitOpen || outlasts) {
        record(option.route, error);
        return { kind: 'failed', error, committed: false, waitEnd };
      }
      const longWait = error.retryAfterMs !== undefined && decision.delayMs > retryOptions.baseMs;
      // A failure that set the deployment aside (a 429, 503 or 529 with Retry-After): the retry waits a little past
      // the cooldown it wrote, which the store timed by the Redis clock, or its own cooldown would refuse it.
      const delayMs = decision.delayMs + (call.cooldown === null ? 0 : cooldownRetryMarginMs(call.cooldown.ms));
      if (
        delayMs > decision.delayMs &&
        !fitsDeadline(clock.now(), delayMs, request.deadlineAt, retryOptions.minCallMs)
      ) {
        // The margin pushed the retry past what the deadline leaves a call (planRetry judged the wait without it):
        // no waiting for a retry that would not be made, or would be cut; the request answers (or moves on) now.
        record(option.route, error);
        return { kind: 'failed', error, committed: false, waitEnd };
      }
      // A rate limit that names no wait (OpenAI's 429s often carry no Retry-After) is out of room for an unknown
      // while: retried first, it was refused again (each refusal counted against its circuit) while a deployment
      // with room waited its turn.
      const unnamedLimit = error.errorClass === ErrorClass.RateLimit && error.retryAfterMs === undefined;
      if (mayDefer && (longWait || unnamedLimit || error.errorClass === ErrorClass.Timeout)) {
        // The provider asks for a long wait (a rate limit's Retry-After), or for one it does not name, or took its
        // whole timeout without answering (calling it again first could spend the rest of the deadline the same way):
        // the other candidates go first, and this one is called again after its wait only if none of them answers.
        record(option.route, error);
        return { kind: 'failed', error, committed: false, defer: { ms: delayMs, calls }, waitEnd };
      }
      this.deps.events.retry(d, error.errorClass);
      await this.deps.sleep(delayMs, signal);
      if (signal.aborted) {
        record(option.route, error);
        const cancelled = new ProviderCallError(
          ErrorClass.Cancelled,
          `aborted (${abortCauseOf(signal) ?? 'shutdown'})`,
        );
        return { kind: 'failed', error: cancelled, committed: false };
      }
    }
  }
}

/**
 * Queues a deferred deployment's second turn after the first tries (`firstTries` of them), the deferred ones soonest
 * due first (equal ones in the order they were deferred). Queued in the order they were deferred, a long wait (a
 * 429's Retry-After of seconds) deferred first was waited out before a retry due in milliseconds (a rate limit that
 * named no wait, a timeout's backoff): the request waited while that deployment might have answered, and when the
 * long wait left the deadline no room after it, that retry was never made. Only first tries defer, so the deferred
 * part is complete before its first turn; a handful of entries at most (maxAttempts).
 */
function deferTurn(turns: Turn[], firstTries: number, turn: Turn & { at: number }): void {
  let i = turns.length;
  while (i > firstTries && (turns[i - 1].at ?? 0) > turn.at) {
    i--;
  }
  turns.splice(i, 0, turn);
}

/**
 * How long a call over a route with this timeout may run, which a half-open probe's slot must outlast: connecting
 * (at most the timeout), then the timeout again for the answer from when the request was written. Below
 * CB_PROBE_TTL_MS the configured TTL holds; above it (a slow local model's timeout of minutes), the slot expired
 * under a probe still waiting for its answer and let a second probe into the failing provider.
 */
export function probeSlotMs(timeoutMs: number): number {
  return 2 * timeoutMs;
}

/** Tells the stream's first chunk how many attempts it took (failed routes and deployments before it included). */
function withAttemptCount(observer: StreamObserver, attempts: number): CallObserver {
  return {
    onStart: (head) => observer.onStart(merged(head, { attempts })),
    onChunk: (delta) => observer.onChunk(delta),
  };
}

/** `usage` of a call to `d`, priced as its answer would be, added to the charges of the attempt under way. */
function addCharge(charged: Charge | null, d: Deployment, usage: Usage): Charge {
  const costUsd = costOf(usage, d.model);
  if (charged === null) {
    return { attempt: 0, provider: d.provider.id, model: d.model.name, usage, costUsd };
  }
  const u = charged.usage;
  charged.usage = {
    promptTokens: u.promptTokens + usage.promptTokens,
    completionTokens: u.completionTokens + usage.completionTokens,
    totalTokens: u.totalTokens + usage.totalTokens,
    cachedPromptTokens: u.cachedPromptTokens + usage.cachedPromptTokens,
  };
  charged.costUsd += costUsd;
  return charged;
}
