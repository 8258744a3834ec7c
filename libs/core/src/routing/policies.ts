import type { Deployment } from '../catalog';
import { merged } from '../objects';
import type { RoutingPolicy } from '../domain';
import type { ModelAlias } from '../model-ref';
import type { ModelTarget } from './candidates';

/*
 * Policies order candidates; they never drop one (filtering is `filterCandidates`' job).
 * Every ordering is deterministic given its inputs, and ties keep the input (catalog) order,
 * so operators can express a preference among equals by listing it first.
 */

export interface TokenEstimate {
  promptTokens: number;
  completionTokens: number;
}

/** Model strings (a deployment id `provider/model` or a model name), most specific first. */
export interface PreferenceChain {
  /** The user's preference for the request's context (e.g. "coding"). */
  context?: string | null;
  userDefault?: string | null;
  systemDefault?: string | null;
  /**
   * How deployments are ordered within each preference group (the user's preference may name a
   * policy for what is not preferred). Default `cost`; `preference` itself means `cost`.
   */
  then?: RoutingPolicy | null;
}

export interface OrderingInputs {
  estimate: TokenEstimate;
  /** Recent moving average per deployment id (Redis). */
  latencyMs?: ReadonlyMap<string, number>;
  /** Historical average per deployment id (usage_records), used where there is no recent one. */
  historicalLatencyMs?: ReadonlyMap<string, number>;
  /** Fleet-wide counter for round-robin. */
  roundRobinCounter?: number;
  preferences?: PreferenceChain;
  /** A pinned deployment (`provider/model`) stays first whatever the policy. */
  pinnedId?: string | null;
}

/** A model without a configured score is treated as middling: neither preferred nor avoided. */
export const DEFAULT_QUALITY = 0.5;

const EMPTY_MAP: ReadonlyMap<string, number> = new Map();

/** Estimated USD for one call, from the catalog prices (per 1K tokens). Cached-prompt discounts are unknown before the call. */
export function estimatedCostUsd(d: Deployment, estimate: TokenEstimate): number {
  return (estimate.promptTokens * d.model.promptPer1k + estimate.completionTokens * d.model.completionPer1k) / 1000;
}

/**
 * Sorts by numeric keys (lexicographic, ascending), ties by input index. Comparisons rather
 * than subtraction, so Infinity keys compare equal to each other instead of yielding NaN.
 */
function sortByKeys(
  candidates: readonly Deployment[],
  primary: Float64Array,
  secondary: Float64Array | null,
): Deployment[] {
  const n = candidates.length;
  const order = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    order[i] = i;
  }
  order.sort((a, b) => {
    if (primary[a] !== primary[b]) {
      return primary[a] < primary[b] ? -1 : 1;
    }
    if (secondary !== null && secondary[a] !== secondary[b]) {
      return secondary[a] < secondary[b] ? -1 : 1;
    }
    return a - b;
  });
  const out = new Array<Deployment>(n);
  for (let i = 0; i < n; i++) {
    out[i] = candidates[order[i]];
  }
  return out;
}

function costKeys(candidates: readonly Deployment[], estimate: TokenEstimate): Float64Array {
  const keys = new Float64Array(candidates.length);
  for (let i = 0; i < candidates.length; i++) {
    keys[i] = estimatedCostUsd(candidates[i], estimate);
  }
  return keys;
}

/** Cheapest estimated call first. */
export function byCost(candidates: readonly Deployment[], estimate: TokenEstimate): Deployment[] {
  return sortByKeys(candidates, costKeys(candidates, estimate), null);
}

function validLatency(ms: number | undefined): ms is number {
  return ms !== undefined && Number.isFinite(ms) && ms >= 0;
}

/**
 * Fastest first by the recent average, else the historical one. Deployments with neither sort
 * after every measured one (an unmeasured deployment is not assumed fast), cheapest first among
 * them; equal latencies are also broken by cost.
 */
export function byLatency(
  candidates: readonly Deployment[],
  latencyMsById: ReadonlyMap<string, number>,
  historicalLatencyMsById: ReadonlyMap<string, number>,
  estimate: TokenEstimate,
): Deployment[] {
  const latency = new Float64Array(candidates.length);
  for (let i = 0; i < candidates.length; i++) {
    const id = candidates[i].id;
    const recent = latencyMsById.get(id);
    const historical = historicalLatencyMsById.get(id);
    latency[i] = validLatency(recent) ? recent : validLatency(historical) ? historical : Infinity;
  }
  return sortByKeys(candidates, latency, costKeys(candidates, estimate));
}

/** Highest catalog quality first (missing = DEFAULT_QUALITY), cheapest first among equals. */
export function byQuality(candidates: readonly Deployment[], estimate: TokenEstimate): Deployment[] {
  const negQuality = new Float64Array(candidates.length);
  for (let i = 0; i < candidates.length; i++) {
    const q = candidates[i].model.quality;
    negQuality[i] = -(q !== undefined && Number.isFinite(q) ? q : DEFAULT_QUALITY);
  }
  return sortByKeys(candidates, negQuality, costKeys(candidates, estimate));
}

/**
 * The input order rotated by the shared counter, so consecutive requests across the fleet
 * start at consecutive deployments. Unhealthy deployments are already filtered out, so the
 * rotation skips them; the rest of the list is the fallback chain.
 */
export function roundRobin(candidates: readonly Deployment[], counter: number): Deployment[] {
  const n = candidates.length;
  const out = new Array<Deployment>(n);
  if (n === 0) {
    return out;
  }
  const c = Number.isFinite(counter) ? Math.trunc(counter) : 0;
  const start = ((c % n) + n) % n;
  for (let i = 0; i < n; i++) {
    out[i] = candidates[(start + i) % n];
  }
  return out;
}

function prefers(pref: string | null | undefined, d: Deployment): boolean {
  return pref !== undefined && pref !== null && (pref === d.id || pref === d.model.name);
}

/** Which link of the chain a deployment matches, most specific first; null: none. */
export function preferenceMatchOf(
  d: Deployment,
  prefs: PreferenceChain,
): 'context' | 'userDefault' | 'systemDefault' | null {
  if (prefs.context !== undefined && prefs.context !== null && prefers(prefs.context, d)) {
    return 'context';
  }
  if (prefers(prefs.userDefault, d)) {
    return 'userDefault';
  }
  return prefers(prefs.systemDefault, d) ? 'systemDefault' : null;
}

function preferenceRank(d: Deployment, prefs: PreferenceChain): number {
  if (prefers(prefs.context, d)) {
    return 0;
  }
  if (prefers(prefs.userDefault, d)) {
    return 1;
  }
  return prefers(prefs.systemDefault, d) ? 2 : 3;
}

/**
 * Deployments matching the context preference first, then the user's default, then the system
 * default, then everything else; cheapest first within each group. A preference naming a model
 * (not a deployment) matches every deployment serving it. A preference that matches no
 * candidate (unknown, disabled, circuit-open, or an alias) simply has no effect.
 */
export function byPreference(
  candidates: readonly Deployment[],
  prefs: PreferenceChain,
  estimate: TokenEstimate,
): Deployment[] {
  const rank = new Float64Array(candidates.length);
  for (let i = 0; i < candidates.length; i++) {
    rank[i] = preferenceRank(candidates[i], prefs);
  }
  return sortByKeys(candidates, rank, costKeys(candidates, estimate));
}

/** Preferred deployments first (as `byPreference`), keeping the given order within each group. */
export function preferredFirst(ordered: readonly Deployment[], prefs: PreferenceChain): Deployment[] {
  const rank = new Float64Array(ordered.length);
  for (let i = 0; i < ordered.length; i++) {
    rank[i] = preferenceRank(ordered[i], prefs);
  }
  return sortByKeys(ordered, rank, null);
}

function byPreferenceThen(
  candidates: readonly Deployment[],
  inputs: OrderingInputs,
  prefs: PreferenceChain,
): Deployment[] {
  const then = prefs.then;
  if (then === undefined || then === null || then === 'preference' || then === 'cost') {
    return byPreference(candidates, prefs, inputs.estimate);
  }
  return preferredFirst(orderCandidates(then, candidates, merged(inputs, { pinnedId: null })), prefs);
}

function pinFirst(ordered: Deployment[], pinnedId: string): Deployment[] {
  const i = ordered.findIndex((d) => d.id === pinnedId);
  if (i > 0) {
    const [pinned] = ordered.splice(i, 1);
    ordered.unshift(pinned);
  }
  return ordered;
}

/** Orders candidates by a policy. Returns a new array; the input is not modified. */
export function orderCandidates(
  policy: RoutingPolicy,
  candidates: readonly Deployment[],
  inputs: OrderingInputs,
): Deployment[] {
  let ordered: Deployment[];
  switch (policy) {
    case 'cost':
      ordered = byCost(candidates, inputs.estimate);
      break;
    case 'latency':
      ordered = byLatency(
        candidates,
        inputs.latencyMs ?? EMPTY_MAP,
        inputs.historicalLatencyMs ?? EMPTY_MAP,
        inputs.estimate,
      );
      break;
    case 'quality':
      ordered = byQuality(candidates, inputs.estimate);
      break;
    case 'round-robin':
      ordered = roundRobin(candidates, inputs.roundRobinCounter ?? 0);
      break;
    case 'preference':
      ordered = byPreferenceThen(candidates, inputs, inputs.preferences ?? {});
      break;
  }
  return inputs.pinnedId ? pinFirst(ordered, inputs.pinnedId) : ordered;
}

/** The policy an alias stands for; `auto` stands for whatever policy the request resolves to. */
export function policyOfAlias(alias: ModelAlias): RoutingPolicy | null {
  switch (alias) {
    case 'cheapest':
      return 'cost';
    case 'fastest':
      return 'latency';
    case 'best':
      return 'quality';
    case 'auto':
      return null;
  }
}

export interface PolicySources {
  /** From the request body. */
  request?: RoutingPolicy | null;
  /** Configured on the API key. */
  apiKey?: RoutingPolicy | null;
  /** The configured default (ROUTING_DEFAULT_POLICY). */
  fallback: RoutingPolicy;
}

/**
 * `cheapest`, `fastest` and `best` name their policy and win over any other source: the
 * model string is the most explicit thing the client sent. Otherwise request, key, default.
 */
export function resolvePolicy(target: ModelTarget, sources: PolicySources): RoutingPolicy {
  if (target.kind === 'alias') {
    const implied = policyOfAlias(target.alias);
    if (implied !== null) {
      return implied;
    }
  }
  return sources.request ?? sources.apiKey ?? sources.fallback;
}
