import {
  embeddingInputTokens,
  ErrorCode,
  estimateCompletionTokens,
  estimateRequestTokenShares,
  filterCandidates,
  type GatewayError,
  orderCandidates,
  pinnedIdOf,
  policyOfAlias,
  requestNeedsOf,
  requiredContextTokens,
  resolvePolicy,
  selectionError,
  type Attempt,
  type CandidateNeed,
  type CandidateSelection,
  type Deployment,
  type Exclusion,
  type GenerationRequest,
  type ModelTarget,
  type PreferenceChain,
  type RoutingPolicy,
  type TokenEstimate,
} from '@aigw/core';
import type { CircuitStatus } from '@aigw/routing';
import { coolingDown, noHealthyProvider, type HeldBack } from './routing-failures';

/*
 * The pure half of routing a request: what it needs, which policy applies, and the ordered candidates
 * once the signals (circuit states, latencies, counter, preferences) have been read.
 */

/** Used when the open circuits did not say when they would admit a call (half-open, probe slots taken). */
const DEFAULT_NO_HEALTHY_RETRY_AFTER_MS = 1000;

export interface RouteNeed {
  need: CandidateNeed;
  estimate: TokenEstimate;
  /** The deployments that could serve the request, circuits not yet consulted. */
  selection: CandidateSelection;
}

export function routeNeedOf(
  request: GenerationRequest,
  deployments: readonly Deployment[],
  avgCompletionTokens: number,
): RouteNeed {
  const { maxTokens, tools } = request.options;
  if (request.embeddings !== undefined) {
    return embeddingsNeedOf(request, request.embeddings.input, deployments);
  }
  // Tool definitions are part of the prompt providers bill and fit into the context window; so are audio and file
  // parts, and images by their size (what it may add to their fixed estimate), by a rough estimate that drops no
  // deployment on its own (`roomyFirst`).
  const { tokens: promptTokens, mediaTokens } = estimateRequestTokenShares(request.messages, tools);
  const need: CandidateNeed = {
    model: request.model,
    stream: request.stream,
    estimatedTokens: requiredContextTokens(promptTokens, maxTokens),
    mediaTokens,
    allowFallback: request.allowFallback === true,
    allowedModels: request.allowedModels,
    needs: requestNeedsOf(request),
  };
  const estimate = { promptTokens, completionTokens: estimateCompletionTokens(maxTokens, avgCompletionTokens) };
  return { need, estimate, selection: filterCandidates(deployments, need, () => false) };
}

/** Each input is embedded on its own: the context window must hold the largest one; the cost counts them all. */
function embeddingsNeedOf(
  request: GenerationRequest,
  input: readonly (string | readonly number[])[],
  deployments: readonly Deployment[],
): RouteNeed {
  let largest = 0;
  let total = 0;
  for (const item of input) {
    const tokens = embeddingInputTokens(item);
    largest = Math.max(largest, tokens);
    total += tokens;
  }
  const need: CandidateNeed = {
    model: request.model,
    stream: false,
    estimatedTokens: largest,
    allowFallback: request.allowFallback === true,
    allowedModels: request.allowedModels,
    needs: requestNeedsOf(request),
    embeddings: true,
  };
  const estimate = { promptTokens: total, completionTokens: 0 };
  return { need, estimate, selection: filterCandidates(deployments, need, () => false) };
}

export interface ResolvedPolicy {
  policy: RoutingPolicy;
  /** Why this policy: for the decision log. */
  source: 'alias' | 'request' | 'default';
}

export function policyOf(target: ModelTarget, request: GenerationRequest, fallback: RoutingPolicy): ResolvedPolicy {
  const policy = resolvePolicy(target, { request: request.policy ?? null, fallback });
  if (target.kind === 'alias' && policyOfAlias(target.alias) !== null) {
    return { policy, source: 'alias' };
  }
  return { policy, source: request.policy === undefined ? 'default' : 'request' };
}

/** The policy whose signals ordering needs: the preference policy orders within its groups by another. */
export function orderingPolicyOf(policy: RoutingPolicy, preferences: PreferenceChain | undefined): RoutingPolicy {
  if (policy !== 'preference') {
    return policy;
  }
  const then = preferences?.then;
  return then === undefined || then === null || then === 'preference' ? 'cost' : then;
}

/** One shared counter per candidate set, so each set rotates evenly on its own. */
export function roundRobinKeyOf(target: ModelTarget): string {
  switch (target.kind) {
    case 'alias':
      return `alias:${target.alias}`;
    case 'pinned':
      return `pinned:${target.deploymentId}`;
    case 'model':
      return `model:${target.model}`;
  }
}

export interface RouteSignals {
  circuits: ReadonlyMap<string, CircuitStatus>;
  recentLatencyMs?: ReadonlyMap<string, number>;
  historicalLatencyMs?: ReadonlyMap<string, number>;
  roundRobinCounter?: number;
  preferences?: PreferenceChain;
  /** Providers the health monitor marks `failing` (read with the catalog, not per request). */
  failingProviders?: ReadonlySet<string>;
  /**
   * Deployments whose provider's own model list lacked the model at the monitor's last probe (read with the
   * catalog, not per request).
   */
  unservedDeployments?: ReadonlySet<string>;
}

/** `ordered` with those `last` picks moved to the back, both parts in their order; `ordered` itself when none is. */
function movedLast(ordered: Deployment[], last: (d: Deployment) => boolean): Deployment[] {
  const first: Deployment[] = [];
  const back: Deployment[] = [];
  for (const d of ordered) {
    (last(d) ? back : first).push(d);
  }
  return back.length === 0 ? ordered : [...first, ...back];
}

/**
 * Deployments of providers the health monitor marks `failing` go to the back, in their order: they are tried only
 * when every other candidate failed (a pinned one too: its `allowFallback` lets the others answer first).
 */
export function failingLast(ordered: Deployment[], failing: ReadonlySet<string> | undefined): Deployment[] {
  if (failing === undefined || failing.size === 0) {
    return ordered;
  }
  return movedLast(ordered, (d) => failing.has(d.provider.id));
}

/**
 * Deployments whose provider's own model list lacks the model (the monitor's probe) go after the others, in their
 * order: each would most likely answer a fast 404 before the next is tried. Not dropped: a server's model list may not
 * name every model it accepts, so when the others failed (or there are none: a pinned request, the model's only
 * deployment) they are still called.
 */
export function unservedLast(ordered: Deployment[], unserved: ReadonlySet<string> | undefined): Deployment[] {
  if (unserved === undefined || unserved.size === 0) {
    return ordered;
  }
  return movedLast(ordered, (d) => unserved.has(d.id));
}

/**
 * Deployments whose context window holds the whole estimate first, in policy order; then those that hold all of it
 * but the audio and file parts' rough share (`CandidateNeed.mediaTokens`), roomiest first. That share is an upper-ish
 * bound (a scanned PDF counts as 3 times its pages), so such a window is tried rather than dropped: when none holds
 * the estimate, the roomiest is called, and its context-length refusal skips the smaller ones (the attempt loop)
 * into a 400 context_length_exceeded. A request that fits everywhere (every text-only one) pays one loop.
 */
export function roomyFirst(ordered: Deployment[], estimatedTokens: number): Deployment[] {
  const roomy: Deployment[] = [];
  const tight: Deployment[] = [];
  for (const d of ordered) {
    (d.model.contextWindow < estimatedTokens ? tight : roomy).push(d);
  }
  if (tight.length === 0) {
    return ordered;
  }
  // Array.prototype.sort is stable: equal windows keep their policy order.
  tight.sort((a, b) => b.model.contextWindow - a.model.contextWindow);
  return [...roomy, ...tight];
}

export interface RoutePlan {
  policy: RoutingPolicy;
  /** In the order to try them. */
  candidates: Deployment[];
  excluded: Exclusion[];
  estimate: TokenEstimate;
  /**
   * Candidates whose circuit was closed when the plan read it: their first call needs no admission round
   * trip (a closed circuit admits everything; one opening meanwhile costs at most that one call).
   */
  closedAtPlan: ReadonlySet<string>;
  /**
   * Set when circuits (open, cooling down) left deployments out: their answer, as when they left nothing, for a request
   * every deployment called then answered without the model (a 404 would say the model does not exist). Null when
   * none was left out.
   */
  heldBack: HeldBack | null;
}

function noHealthyRetryAfter(excluded: readonly Exclusion[], circuits: ReadonlyMap<string, CircuitStatus>): number {
  let soonest = Infinity;
  for (const e of excluded) {
    const wait = e.reason === 'circuit_open' ? circuits.get(e.deploymentId)?.retryAfterMs : null;
    if (wait !== null && wait !== undefined) {
      soonest = Math.min(soonest, wait);
    }
  }
  return Number.isFinite(soonest) ? Math.max(1, soonest) : DEFAULT_NO_HEALTHY_RETRY_AFTER_MS;
}

/**
 * Every candidate was refused by its circuit. When each was refused only by the wait its provider asked for (a
 * cooldown), the answer is the one those providers gave (`coolingDown`); otherwise no_healthy_provider.
 */
function refusedByCircuits(
  model: string,
  excluded: readonly Exclusion[],
  circuits: ReadonlyMap<string, CircuitStatus>,
  attempts?: Attempt[],
): GatewayError {
  const retryAfterMs = noHealthyRetryAfter(excluded, circuits);
  const statuses = excluded
    .filter((e) => e.reason === 'circuit_open')
    .map((e) => circuits.get(e.deploymentId)?.cooldownStatus);
  if (statuses.length > 0 && statuses.every((s) => s !== undefined)) {
    return coolingDown(
      model,
      retryAfterMs,
      statuses.every((s) => s === 429),
      attempts,
    );
  }
  return noHealthyProvider(model, retryAfterMs, attempts);
}

/**
 * Drops the deployments whose circuit refuses calls (or that are set aside for a wait their provider asked for)
 * and orders the rest. Throws the client-facing error when nothing is left: no_healthy_provider (503, with the time
 * to the first half-open) when circuits are why, the providers' own 429 or 503 when only their waits are
 * (`coolingDown`), else the selection's own error.
 */
export function planRoute(
  deployments: readonly Deployment[],
  route: RouteNeed,
  policy: RoutingPolicy,
  signals: RouteSignals,
): RoutePlan {
  const { circuits } = signals;
  const selection = filterCandidates(deployments, route.need, (id) => circuits.get(id)?.available === false);
  if (selection.failure !== null) {
    if (selection.failure.code === ErrorCode.NoHealthyProvider) {
      throw refusedByCircuits(route.need.model, selection.excluded, circuits);
    }
    throw selectionError(selection.failure);
  }
  const ordered = orderCandidates(policy, selection.candidates, {
    estimate: route.estimate,
    latencyMs: signals.recentLatencyMs,
    historicalLatencyMs: signals.historicalLatencyMs,
    roundRobinCounter: signals.roundRobinCounter,
    preferences: signals.preferences,
    pinnedId: pinnedIdOf(selection.target),
  });
  const candidates = failingLast(
    unservedLast(roomyFirst(ordered, route.need.estimatedTokens), signals.unservedDeployments),
    signals.failingProviders,
  );
  const closedAtPlan = new Set<string>();
  for (const d of candidates) {
    if (circuits.get(d.id)?.state === 'closed') {
      closedAtPlan.add(d.id);
    }
  }
  const { excluded } = selection;
  const heldBack: HeldBack | null = excluded.some((e) => e.reason === 'circuit_open')
    ? (attempts) => refusedByCircuits(route.need.model, excluded, circuits, attempts)
    : null;
  return { policy, candidates, excluded, estimate: route.estimate, closedAtPlan, heldBack };
}
