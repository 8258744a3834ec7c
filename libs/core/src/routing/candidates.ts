import type { Deployment } from '../catalog';
import { ErrorCode, GatewayError } from '../errors';
import { mayUseDeployment } from '../governance/model-access';
import { isModelAlias, resolveModelRef, type ModelAlias } from '../model-ref';
import {
  ASSISTANT_PREFILL_PARAM,
  FILE_ID_PARAM,
  MANY_STOPS_PARAM,
  MAX_OPENAI_STOP_SEQUENCES,
  OTHER_FILE_TYPE_PARAM,
  REMOTE_IMAGE_PARAM,
  routeSupportsParam,
  routesOf,
  STANDARD_TIER_PARAM,
  TOKEN_INPUT_PARAM,
} from '../provider-families';
import type { Capability } from '../catalog';
import {
  embedsWith,
  refusesJsonWithTools,
  refusesTemperatureWithTopP,
  refusesToolName,
  toolNameParam,
  type RequestNeeds,
} from './request-needs';

/** What the request asks of a deployment. */
export interface CandidateNeed {
  /** As the client asked: an alias, `provider/model` or a model name. */
  model: string;
  stream: boolean;
  /** Prompt plus reserved completion tokens (see `requiredContextTokens`). */
  estimatedTokens: number;
  /**
   * Of `estimatedTokens`, the audio and file parts' rough share (`estimateMediaTokens`, an upper-ish bound: a scanned
   * PDF counts as 3 times its pages and more). A window too small for only this share is no reason to drop a
   * deployment: planning tries it after those that hold the whole estimate. Absent: 0.
   */
  mediaTokens?: number;
  /** With a pinned `provider/model`: also keep the other deployments serving that model. */
  allowFallback?: boolean;
  /** Capabilities and provider-dependent fields (see `requestNeedsOf`); absent: plain chat. */
  needs?: RequestNeeds;
  /** An embeddings request: candidates need the `embeddings` capability (and a family that embeds), not `chat`. */
  embeddings?: boolean;
  /** The API key's allow-list (see `mayUseDeployment`); absent or null: every deployment. */
  allowedModels?: readonly string[] | null;
}

/** How the requested model string was read against the catalog. */
export type ModelTarget =
  | { kind: 'alias'; alias: ModelAlias }
  | { kind: 'pinned'; deploymentId: string; provider: string; model: string }
  | { kind: 'model'; model: string };

/**
 * Why a deployment that serves the requested model was dropped, in the order the checks run.
 * The order matters: when nothing is left, the reason of the deployment that got furthest
 * names the error (a context-too-long model that is also circuit-open would have worked once
 * healthy, so the client gets no_healthy_provider, not context_length).
 */
export type ExclusionReason =
  | 'disabled'
  | 'not_allowed'
  | 'no_chat'
  | 'no_embeddings'
  | 'no_streaming'
  | 'missing_capability'
  | 'unsupported_parameter'
  | 'context_too_small'
  | 'circuit_open'
  | 'provider_failing';

const STAGE: { readonly [R in ExclusionReason]: number } = {
  disabled: 0,
  // After `disabled`: a model that exists but is outside the key's allow-list is a 403, not a 404.
  not_allowed: 1,
  no_chat: 2,
  no_embeddings: 2,
  no_streaming: 3,
  missing_capability: 4,
  unsupported_parameter: 5,
  context_too_small: 6,
  circuit_open: 7,
  provider_failing: 8,
};

/** JSON mode with tool declarations, which some deployments refuse together (see `refusesJsonWithTools`). */
const JSON_WITH_TOOLS = 'response_format+tools';

/** `temperature` and `top_p` both meaningful, which some Claude models refuse together (see `refusesTemperatureWithTopP`). */
const TEMPERATURE_WITH_TOP_P = 'temperature+top_p';

/** An offered tool's name that some deployments refuse (see `refusesToolName`); the error names the tool. */
const TOOL_NAME = 'tools.function.name';

/** How an error names a request field that `requestNeedsOf` adds for one of its values only. */
const PARAM_WORDING: Readonly<Record<string, string>> = {
  temperature: "'temperature' above 1",
  stop: "'stop' with a sequence of whitespace only",
  [MANY_STOPS_PARAM]: `More than ${MAX_OPENAI_STOP_SEQUENCES} sequences in 'stop'`,
  [STANDARD_TIER_PARAM]: "'service_tier' of 'standard_only' (Anthropic's capacity tiers)",
  [JSON_WITH_TOOLS]: "'response_format' (JSON mode) together with 'tools'",
  [REMOTE_IMAGE_PARAM]: 'An image by http(s) URL (send it as a base64 data URL)',
  [FILE_ID_PARAM]: 'A file by file_id (a file uploaded to one provider; send it as file_data)',
  [OTHER_FILE_TYPE_PARAM]: 'A file other than a PDF or plain text',
  [TOKEN_INPUT_PARAM]: 'An input of token ids (their API embeds text only: send the text)',
  [ASSISTANT_PREFILL_PARAM]:
    'A final assistant message (a prefill for the model to continue; these deployments would answer it anew)',
};

/** The request field an error's `param` names, where the unsupported thing is a combination. */
const PARAM_FIELD: Readonly<Record<string, string>> = {
  [JSON_WITH_TOOLS]: 'response_format',
  [TEMPERATURE_WITH_TOP_P]: 'top_p',
  [REMOTE_IMAGE_PARAM]: 'messages',
  [FILE_ID_PARAM]: 'messages',
  [OTHER_FILE_TYPE_PARAM]: 'messages',
  [TOKEN_INPUT_PARAM]: 'input',
  [ASSISTANT_PREFILL_PARAM]: 'messages',
  [MANY_STOPS_PARAM]: 'stop',
  [STANDARD_TIER_PARAM]: 'service_tier',
};

/** The request field that asks for a capability, for the error's `param`. */
const PARAM_OF_CAPABILITY: { readonly [C in Capability]: string } = {
  chat: 'messages',
  streaming: 'stream',
  tools: 'tools',
  vision: 'messages',
  json: 'response_format',
  embeddings: 'model',
};

export interface Exclusion {
  deploymentId: string;
  reason: ExclusionReason;
}

export interface CandidateSelection {
  target: ModelTarget;
  /** Catalog order; a policy orders them next. With a pin (and fallback), the pinned deployment is first. */
  candidates: Deployment[];
  excluded: Exclusion[];
  /** Set exactly when `candidates` is empty: the error to give the client (see `selectionError`). */
  failure: SelectionFailure | null;
}

export interface SelectionFailure {
  code:
    | ErrorCode.ModelNotFound
    | ErrorCode.ModelNotAllowed
    | ErrorCode.InvalidRequest
    | ErrorCode.UnsupportedCapability
    | ErrorCode.UnsupportedParameter
    | ErrorCode.ContextLengthExceeded
    | ErrorCode.NoHealthyProvider;
  message: string;
  /** The request field at fault; `model` when absent. */
  param?: string;
}

function missingCapability(d: Deployment, need: CandidateNeed): Capability | undefined {
  return need.needs?.capabilities.find((c) => !d.model.capabilities.includes(c));
}

function unsupportedParam(d: Deployment, need: CandidateNeed): string | undefined {
  const needs = need.needs;
  if (needs === undefined) {
    return undefined;
  }
  const param = unsupportedOnEveryRoute(d, needs.params);
  if (param !== undefined) {
    return param;
  }
  if (needs.jsonWithTools === true && refusesJsonWithTools(d)) {
    return JSON_WITH_TOOLS;
  }
  if (needs.temperatureWithTopP === true && refusesTemperatureWithTopP(d)) {
    return TEMPERATURE_WITH_TOP_P;
  }
  return needs.toolName !== undefined && refusesToolName(d) ? TOOL_NAME : undefined;
}

/**
 * The first field no route of the deployment honours, judged by the route's wire (see routeSupportsParam): an `auto`
 * provider is a candidate when either route takes every field (the attempt loop then takes only those that do,
 * `routesCarrying`). Named after the first route's first refusal.
 */
function unsupportedOnEveryRoute(d: Deployment, params: readonly string[]): string | undefined {
  let first: string | undefined;
  for (const route of routesOf(d.provider.routing)) {
    const param = params.find((p) => !routeSupportsParam(d.provider.kind, route, p));
    if (param === undefined) {
      return undefined;
    }
    first ??= param;
  }
  return first;
}

function targetOf(model: string, deployments: readonly Deployment[]): ModelTarget {
  if (isModelAlias(model)) {
    return { kind: 'alias', alias: model };
  }
  const providerIds = new Set<string>();
  for (const d of deployments) {
    providerIds.add(d.provider.id);
  }
  const ref = resolveModelRef(model, providerIds);
  if (ref.provider !== null) {
    return { kind: 'pinned', deploymentId: `${ref.provider}/${ref.model}`, provider: ref.provider, model: ref.model };
  }
  return { kind: 'model', model: ref.model };
}

function matches(target: ModelTarget, d: Deployment, allowFallback: boolean, embeddings: boolean): boolean {
  switch (target.kind) {
    case 'alias':
      // Aliases range over deployments of the request's kind: an embedding model is not "the cheapest chat model".
      return d.model.capabilities.includes(embeddings ? 'embeddings' : 'chat');
    case 'pinned':
      return d.id === target.deploymentId || (allowFallback && d.model.name === target.model);
    case 'model':
      return d.model.name === target.model;
  }
}

/**
 * Every enabled deployment a request for `model` may be routed to, before the key's allow-list and the request's
 * needs narrow them (aliases: every deployment of the request's kind; a model name: every deployment serving it;
 * `provider/model`: that deployment, and with `allowFallback` every deployment of the same model name). What a
 * worst-case charge must price and what the response cache's access material is computed over.
 */
export function reachableDeployments(
  deployments: readonly Deployment[],
  need: Pick<CandidateNeed, 'model' | 'allowFallback' | 'embeddings'>,
): Deployment[] {
  const target = targetOf(need.model, deployments);
  const allowFallback = need.allowFallback === true;
  const embeddings = need.embeddings === true;
  return deployments.filter(
    (d) => d.provider.enabled && d.model.enabled && matches(target, d, allowFallback, embeddings),
  );
}

function exclusionOf(
  d: Deployment,
  need: CandidateNeed,
  isOpen: (deploymentId: string) => boolean,
): ExclusionReason | null {
  if (!d.provider.enabled || !d.model.enabled) {
    return 'disabled';
  }
  if (!mayUseDeployment(need.allowedModels, d)) {
    return 'not_allowed';
  }
  if (need.embeddings === true) {
    if (!d.model.capabilities.includes('embeddings') || !embedsWith(d.provider.kind)) {
      return 'no_embeddings';
    }
  } else if (!d.model.capabilities.includes('chat')) {
    return 'no_chat';
  }
  if (need.stream && !d.model.capabilities.includes('streaming')) {
    return 'no_streaming';
  }
  if (missingCapability(d, need) !== undefined) {
    return 'missing_capability';
  }
  if (unsupportedParam(d, need) !== undefined) {
    return 'unsupported_parameter';
  }
  if (d.model.contextWindow < need.estimatedTokens - (need.mediaTokens ?? 0)) {
    return 'context_too_small';
  }
  if (isOpen(d.id)) {
    return 'circuit_open';
  }
  return null;
}

function failureOf(
  need: CandidateNeed,
  excluded: readonly Exclusion[],
  byId: Map<string, Deployment>,
): SelectionFailure {
  const name = `'${need.model}'`;
  let furthest: ExclusionReason | null = null;
  for (const e of excluded) {
    if (furthest === null || STAGE[e.reason] > STAGE[furthest]) {
      furthest = e.reason;
    }
  }
  switch (furthest) {
    case null:
    case 'disabled':
      return { code: ErrorCode.ModelNotFound, message: `The model ${name} does not exist or is not available.` };
    case 'not_allowed':
      return { code: ErrorCode.ModelNotAllowed, message: `This API key may not use the model ${name}.` };
    case 'no_chat':
      return { code: ErrorCode.InvalidRequest, message: `The model ${name} does not support chat completions.` };
    // A capability none of the model's deployments has, as for tools or vision (README, errors).
    case 'no_embeddings':
      return {
        code: ErrorCode.UnsupportedCapability,
        message: `The model ${name} has no deployment with the 'embeddings' capability on a provider API that serves embeddings.`,
        param: 'model',
      };
    case 'no_streaming':
      return { code: ErrorCode.InvalidRequest, message: `The model ${name} does not support streaming.` };
    case 'missing_capability': {
      const capability = firstOf(excluded, 'missing_capability', byId, (d) => missingCapability(d, need)) ?? 'chat';
      return {
        code: ErrorCode.UnsupportedCapability,
        message: `No deployment of ${name} has the '${capability}' capability this request needs.`,
        param: PARAM_OF_CAPABILITY[capability],
      };
    }
    case 'unsupported_parameter': {
      const param = firstOf(excluded, 'unsupported_parameter', byId, (d) => unsupportedParam(d, need)) ?? 'model';
      const kinds = new Set<string>();
      for (const e of excluded) {
        const d = e.reason === 'unsupported_parameter' ? byId.get(e.deploymentId) : undefined;
        if (d !== undefined) {
          kinds.add(d.provider.kind);
        }
      }
      const tool = param === TOOL_NAME ? need.needs?.toolName : undefined;
      if (tool !== undefined) {
        // Gemini's rule: the one family that refuses such a name (`refusesToolName`).
        return {
          code: ErrorCode.UnsupportedParameter,
          message: `The tool name '${tool.name}' is not supported by the deployments of ${name} (gemini API: a function name must start with a letter or an underscore); rename the tool or choose another model.`,
          param: toolNameParam(tool.index),
        };
      }
      if (param === TEMPERATURE_WITH_TOP_P) {
        // Claude's rule (`refusesTemperatureWithTopP`): the one family that refuses both, so the message says it.
        return {
          code: ErrorCode.UnsupportedParameter,
          message: `'temperature' and 'top_p' cannot both be set for the deployments of ${name} (anthropic API: Claude Opus 4.1, the Claude 4.5 generation and later take one or the other); set only one of them (a 'top_p' of 1, or a 'temperature' of 1 beside a 'top_p', counts as unset) or choose another model.`,
          param: PARAM_FIELD[param],
        };
      }
      return {
        code: ErrorCode.UnsupportedParameter,
        message: `${PARAM_WORDING[param] ?? `'${param}'`} is not supported by the deployments of ${name} (${[...kinds].join(', ')} API); remove it or choose another model.`,
        param: PARAM_FIELD[param] ?? param,
      };
    }
    case 'context_too_small': {
      // Of the deployments dropped for their window only: one disabled, or outside the key's allow-list (whose window
      // a restricted key must not learn, nor that it exists), would name a window the request cannot have.
      let largest = 0;
      for (const e of excluded) {
        if (e.reason === 'context_too_small') {
          largest = Math.max(largest, byId.get(e.deploymentId)?.model.contextWindow ?? 0);
        }
      }
      // OpenAI names the field to shorten, not the model: `messages` for chat, `input` for embeddings.
      return {
        code: ErrorCode.ContextLengthExceeded,
        message: `The request needs about ${need.estimatedTokens} tokens but the largest context window for ${name} is ${largest}.`,
        param: need.embeddings === true ? 'input' : 'messages',
      };
    }
    case 'circuit_open':
    case 'provider_failing':
      return { code: ErrorCode.NoHealthyProvider, message: `No healthy provider is available for ${name} right now.` };
  }
}

/** The first answer `of` gives for a deployment excluded for `reason`. */
function firstOf<T>(
  excluded: readonly Exclusion[],
  reason: ExclusionReason,
  byId: Map<string, Deployment>,
  of: (d: Deployment) => T | undefined,
): T | undefined {
  for (const e of excluded) {
    const d = e.reason === reason ? byId.get(e.deploymentId) : undefined;
    const found = d === undefined ? undefined : of(d);
    if (found !== undefined) {
      return found;
    }
  }
  return undefined;
}

/**
 * Resolves the requested model against the deployments and drops those that cannot serve
 * the request. Deployments the health monitor marks failing (`isFailing`) are dropped only
 * while something else is left: a possibly-sick provider beats a certain error.
 */
export function filterCandidates(
  deployments: readonly Deployment[],
  need: CandidateNeed,
  isOpen: (deploymentId: string) => boolean,
  isFailing: (deploymentId: string) => boolean = () => false,
): CandidateSelection {
  const target = targetOf(need.model, deployments);
  const allowFallback = need.allowFallback === true;
  const candidates: Deployment[] = [];
  const failing: Deployment[] = [];
  const excluded: Exclusion[] = [];
  for (const d of deployments) {
    if (!matches(target, d, allowFallback, need.embeddings === true)) {
      continue;
    }
    const reason = exclusionOf(d, need, isOpen);
    if (reason !== null) {
      excluded.push({ deploymentId: d.id, reason });
    } else if (isFailing(d.id)) {
      failing.push(d);
    } else {
      candidates.push(d);
    }
  }
  if (candidates.length === 0) {
    candidates.push(...failing);
  } else {
    for (const d of failing) {
      excluded.push({ deploymentId: d.id, reason: 'provider_failing' });
    }
  }
  if (target.kind === 'pinned') {
    const i = candidates.findIndex((d) => d.id === target.deploymentId);
    if (i > 0) {
      candidates.unshift(...candidates.splice(i, 1));
    }
  }
  let failure: SelectionFailure | null = null;
  if (candidates.length === 0) {
    const byId = new Map<string, Deployment>();
    for (const d of deployments) {
      byId.set(d.id, d);
    }
    failure = failureOf(need, excluded, byId);
  }
  return { target, candidates, excluded, failure };
}

/** The deployment a `provider/model` request pinned, for `OrderingInputs.pinnedId`. */
export function pinnedIdOf(target: ModelTarget): string | null {
  return target.kind === 'pinned' ? target.deploymentId : null;
}

/** The client-facing error for a selection that left nothing to call. */
export function selectionError(failure: SelectionFailure): GatewayError {
  return new GatewayError(failure.code, failure.message, { param: failure.param ?? 'model' });
}
