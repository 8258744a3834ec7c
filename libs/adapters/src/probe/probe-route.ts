import {
  ErrorClass,
  ProviderCallError,
  type Diagnosis,
  type GatewaySpec,
  type ProbeMode,
  type ProviderKind,
  type ProviderSpec,
  type Route,
  type RouteCheck,
} from '@aigw/core';
import { performance } from 'node:perf_hooks';
import { classifyError } from '../errors/classify';
import { gatewayTarget } from '../gateway-target';
import type { AdapterOwner } from '../registry';
import type { AdapterTarget, ProviderAdapter } from '../types';
import { diagnose, invalidUrlDiagnosis, notServedDiagnosis, type DiagnosisContext } from './diagnosis';

/** A provider as a probe needs it: saved in the catalog, or settings typed into a form and not saved yet. */
export interface ProbeProvider {
  /** Catalog id; an unsaved provider gets any stable placeholder (it keys the connection pool). */
  id: string;
  kind: ProviderKind;
  baseUrl: string;
  /** Secret: never logged, never in a result. */
  apiKey?: string;
  /** `kind: plugin`: the adapter's module. */
  plugin?: string;
  healthPath?: string;
  /** `health` unless the catalog opts in to `completion`. */
  probe?: ProbeMode;
  /** The names the provider's models go by upstream (`upstreamName`, else `name`), enabled ones first. */
  models?: readonly string[];
  /**
   * Of `models`, those traffic is routed to (the enabled ones): a direct probe that reads the provider's model list
   * names those missing from it. Absent: all of `models` (settings typed into a form).
   */
  routedModels?: readonly string[];
  /**
   * The context window of the first of `models` (the one a completion probe asks). Ollama is told it as `num_ctx`,
   * as on every generation: a probe with another value would make it reload the model, and time out doing so.
   */
  contextWindow?: number;
}

/** The probe view of a catalog provider: its models by upstream name, enabled ones first. */
export function probeProviderOf(p: ProviderSpec): ProbeProvider {
  const models = [...p.models.filter((m) => m.enabled), ...p.models.filter((m) => !m.enabled)];
  return {
    id: p.id,
    kind: p.kind,
    baseUrl: p.baseUrl,
    ...(p.apiKey === undefined ? {} : { apiKey: p.apiKey }),
    ...(p.plugin === undefined ? {} : { plugin: p.plugin }),
    ...(p.healthPath === undefined ? {} : { healthPath: p.healthPath }),
    ...(p.probe === undefined ? {} : { probe: p.probe }),
    models: models.map((m) => m.upstreamName ?? m.name),
    routedModels: models.filter((m) => m.enabled).map((m) => m.upstreamName ?? m.name),
    ...(models.length === 0 ? {} : { contextWindow: models[0].contextWindow }),
  };
}

/** The adapters by wire format: an AdapterRegistry. */
export interface AdapterSource {
  get(kind: ProviderKind, owner?: AdapterOwner): ProviderAdapter;
}

export type ProbeRouteOptions = {
  adapters: AdapterSource;
  provider: ProbeProvider;
  /** The whole probe (connect, answer, body) must finish within this. */
  timeoutMs: number;
  /** Aborts the probe early (shutdown); reported as a timeout. */
  signal?: AbortSignal;
  /**
   * Connection pool of this probe; default `probe:<provider or gateway id>` (kept alive between probes). A one-off
   * test passes its own and closes it afterwards (`HttpPool.closePoolKey`).
   */
  poolKey?: string;
} & ({ route: 'direct' } | { route: 'gateway'; gateway: GatewaySpec });

/** One route's probe: the connection test's route result, plus the error class for history rows and metrics. */
export interface RouteProbe extends RouteCheck {
  /** The adapter's error class; absent when ok. */
  errorClass?: ErrorClass;
  /**
   * A working direct route whose model list lacks some of the provider's routed models (by upstream name): those
   * deployments are unavailable while the provider is up. The diagnosis says so, for the operator.
   */
  unservedModels?: string[];
  /**
   * The route read a model list that tells which of the routed models it serves: `unservedModels` (absent: none) is
   * a verdict. Absent: the route could not tell (it failed, its list may not name what it serves, a completion probe).
   * The monitor records the verdict for routing and the listings.
   */
  modelsChecked?: true;
}

const NEVER = new AbortController().signal;

/** The connection pool a probe of `id` (a provider, or a gateway) keeps alive between probes, unless given its own. */
export function probePoolKey(id: string): string {
  return `probe:${id}`;
}

/**
 * Probe one provider on one route without a billed completion, unless the provider opts in (`probe:
 * completion`): `direct` calls the provider's own base URL with its key and wire format; `gateway` asks the
 * gateway (an OpenAI-compatible proxy) with the gateway's key for the model list, and checks that the proxy
 * serves the provider's models under the names the worker will send. Never rejects.
 */
export async function probeRoute(options: ProbeRouteOptions): Promise<RouteProbe> {
  const { provider, route, timeoutMs } = options;
  const gateway = options.route === 'gateway' ? options.gateway : undefined;
  const signal = options.signal ?? NEVER;
  const kind: ProviderKind = gateway === undefined ? provider.kind : 'openai';
  const model = provider.models?.[0] ?? '';
  const target: AdapterTarget =
    gateway === undefined
      ? { baseUrl: provider.baseUrl, model, timeoutMs, poolKey: options.poolKey ?? probePoolKey(provider.id) }
      : { ...gatewayTarget(gateway, model), timeoutMs, poolKey: options.poolKey ?? probePoolKey(gateway.id) };
  // A probe needs one socket; two leave room for a scheduled probe overlapping an on-demand one.
  target.maxConnections = 2;
  if (gateway === undefined && provider.apiKey !== undefined && provider.apiKey !== '') {
    target.apiKey = provider.apiKey;
  }
  if (gateway === undefined && provider.healthPath !== undefined) {
    target.healthPath = provider.healthPath;
  }
  if (gateway === undefined && provider.contextWindow !== undefined) {
    target.contextWindow = provider.contextWindow;
  }
  const ctx: DiagnosisContext = { route, kind, baseUrl: target.baseUrl, timeoutMs, providerId: provider.id };
  if (provider.probe === 'completion' && model !== '') {
    ctx.model = model;
  }
  if (target.healthPath !== undefined && provider.probe !== 'completion') {
    ctx.healthPath = target.healthPath;
  }
  const secrets = [provider.apiKey, gateway?.apiKey];
  const fail = (err: ProviderCallError, latencyMs: number): RouteProbe => ({
    route,
    ok: false,
    latencyMs,
    ...(err.status === undefined ? {} : { status: err.status }),
    diagnosis: scrubbed(diagnose(err, ctx), secrets),
    errorClass: err.errorClass,
  });

  if (!isHttpUrl(target.baseUrl)) {
    return { route, ok: false, latencyMs: 0, diagnosis: invalidUrlDiagnosis(ctx), errorClass: ErrorClass.Gateway };
  }
  let adapter: ProviderAdapter;
  try {
    adapter = options.adapters.get(kind, {
      id: provider.id,
      ...(provider.plugin === undefined ? {} : { plugin: provider.plugin }),
    });
  } catch (err) {
    return fail(classifyError(err), 0);
  }

  if (provider.probe === 'completion' && model !== '') {
    const done = await withDeadline(completionProbe(adapter, target, signal, route, fail), timeoutMs, fail);
    return isTimedOut(done) ? done.probe : done;
  }
  const health = await withDeadline(adapter.healthCheck(target, signal), timeoutMs, fail);
  if (isTimedOut(health)) {
    return health.probe;
  }
  if (!health.ok) {
    const err =
      health.error ??
      new ProviderCallError(ErrorClass.Provider, health.message ?? 'health check failed', { status: health.status });
    return fail(err, health.latencyMs);
  }
  const result: RouteProbe = { route, ok: true, latencyMs: health.latencyMs, status: health.status ?? 200 };
  if (health.models !== undefined) {
    result.models = health.models;
  }
  if (gateway === undefined && health.models !== undefined && LISTS_WHAT_IT_SERVES.has(kind)) {
    const unserved = unservedDirect(kind, provider.routedModels ?? provider.models ?? [], health.models);
    result.modelsChecked = true;
    if (unserved.length > 0) {
      result.unservedModels = unserved;
      result.diagnosis = scrubbed(notServedDiagnosis(unserved, ctx), secrets);
    }
  }
  if (gateway !== undefined && health.models !== undefined) {
    // The proxy's list is the names it routes: the worker sends the same ones through it.
    const unserved = unservedOnGateway(provider.routedModels ?? provider.models ?? [], health.models);
    result.modelsChecked = true;
    if (unserved.length > 0) {
      result.unservedModels = unserved;
    }
    const missing = missingOnGateway(provider.models ?? [], health.models);
    if (missing !== undefined) {
      return {
        ...result,
        ok: false,
        errorClass: ErrorClass.Provider,
        diagnosis: {
          code: 'not_found',
          message: `the gateway answers but serves none of this provider's models (${missing.join(', ')})`,
          suggestion:
            "add them to the proxy's model list under these names (LiteLLM: model_list[].model_name), or set each model's upstreamName to the name the proxy uses",
        },
      };
    }
  }
  return result;
}

/**
 * Past a probe's timeout (and a little grace for the adapter's own timer, which describes it better), the adapter's
 * answer is no longer awaited. The built-in adapters bound their calls themselves; a plugin's may not (one that
 * ignores the signal and never settles held its probe job, and one of the monitor's HEALTH_CONCURRENCY slots, for
 * good: a few intervals later no provider was probed at all).
 */
const DEADLINE_GRACE_MS = 100;

interface TimedOut {
  timedOut: true;
  probe: RouteProbe;
}

function isTimedOut(value: unknown): value is TimedOut {
  return typeof value === 'object' && value !== null && (value as Partial<TimedOut>).timedOut === true;
}

async function withDeadline<T>(
  work: Promise<T>,
  timeoutMs: number,
  fail: (err: ProviderCallError, latencyMs: number) => RouteProbe,
): Promise<T | TimedOut> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<TimedOut>((resolve) => {
    timer = setTimeout(() => {
      const err = new ProviderCallError(ErrorClass.Timeout, `no answer within ${timeoutMs} ms`);
      resolve({ timedOut: true, probe: fail(err, timeoutMs) });
    }, timeoutMs + DEADLINE_GRACE_MS);
  });
  // A late rejection of the abandoned call is not an unhandled one.
  work.catch(() => undefined);
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function completionProbe(
  adapter: ProviderAdapter,
  target: AdapterTarget,
  signal: AbortSignal,
  route: Route,
  fail: (err: ProviderCallError, latencyMs: number) => RouteProbe,
): Promise<RouteProbe> {
  const started = performance.now();
  try {
    await adapter.generate(
      { target, messages: [{ role: 'user', content: 'ping' }], options: { maxTokens: 1, temperature: 0 } },
      signal,
    );
    return { route, ok: true, latencyMs: Math.round(performance.now() - started), status: 200 };
  } catch (err) {
    return fail(adapter.classifyError(err, signal), Math.round(performance.now() - started));
  }
}

/** Kinds whose model list (Ollama's /api/tags, /v1/models, Gemini's models) is what a generation may ask for. */
const LISTS_WHAT_IT_SERVES: ReadonlySet<ProviderKind> = new Set<ProviderKind>(['ollama', 'openai', 'gemini']);

/**
 * The routed models a provider's own model list lacks. Names are compared as Ollama reads them (`ollamaName`, also
 * for an OpenAI-compatible route, which may be Ollama's `/v1`): `llama3` is the `llama3:latest` it lists; a listed
 * name with a routing suffix (`routedBase`) is served. Gemini's list names `gemini-x` for `models/gemini-x`; a list
 * with a wildcard, or a name in another collection (Gemini's `tunedModels/...`), is not judged. Ollama finds a model
 * whatever the case of its name (its chat and generate handlers fold each part of the name to a pulled model's), so
 * its names are compared without case; other servers' (vLLM, SambaNova, OpenAI) are compared as they are.
 */
function unservedDirect(kind: ProviderKind, wanted: readonly string[], served: readonly string[]): string[] {
  if (served.some((m) => m.includes('*'))) {
    return [];
  }
  const folded = (name: string) => (kind === 'ollama' ? name.toLowerCase() : name);
  const listed = new Set(served);
  const have = new Set(served.map((m) => ollamaName(folded(m))));
  return [...new Set(wanted)].filter((m) => {
    const name = kind === 'gemini' && m.startsWith('models/') ? m.slice('models/'.length) : m;
    if (have.has(ollamaName(folded(name))) || listed.has(routedBase(name))) {
      return false;
    }
    return !(kind === 'gemini' && name.includes('/'));
  });
}

/**
 * A name without its routing suffix (after the last `:` of its last segment): HuggingFace's router takes a listed
 * `org/model` as `org/model:provider` or `:fastest`, OpenRouter `vendor/model:nitro` or `:floor`, none of which its
 * list names. Compared with the list's names as they are: Ollama lists every model with its tag, so its `llama3:8b` is
 * not served by a `llama3:latest`.
 */
function routedBase(name: string): string {
  const colon = name.lastIndexOf(':');
  return colon > name.lastIndexOf('/') ? name.slice(0, colon) : name;
}

const OLLAMA_DEFAULT_HOST = 'registry.ollama.ai/';
const OLLAMA_DEFAULT_NAMESPACE = 'library/';

/**
 * A model name in the form Ollama lists it (`/api/tags`, its shortest display): with its tag, `:latest` when it has
 * none (a tag follows the last `/`: the `:5000` of `localhost:5000/m` is a registry's port), without the default
 * registry and namespace (`registry.ollama.ai/library/llama3` is `llama3:latest`). Names of other servers (no such
 * parts) only gain the `:latest` both sides get.
 */
function ollamaName(name: string): string {
  let s = name.lastIndexOf(':') > name.lastIndexOf('/') ? name : `${name}:latest`;
  if (s.startsWith(OLLAMA_DEFAULT_HOST)) {
    s = s.slice(OLLAMA_DEFAULT_HOST.length);
    if (s.startsWith(OLLAMA_DEFAULT_NAMESPACE)) {
      s = s.slice(OLLAMA_DEFAULT_NAMESPACE.length);
    }
  } else if (s.startsWith(OLLAMA_DEFAULT_NAMESPACE)) {
    s = s.slice(OLLAMA_DEFAULT_NAMESPACE.length);
  }
  return s;
}

/** The routed models a proxy's model list lacks; none when it lists a wildcard. */
function unservedOnGateway(wanted: readonly string[], served: readonly string[]): string[] {
  if (served.some((m) => m.includes('*'))) {
    return [];
  }
  const have = new Set(served);
  return [...new Set(wanted)].filter((m) => !have.has(m));
}

/** The provider's model names when the proxy lists none of them; undefined when any is served (or unknowable). */
function missingOnGateway(wanted: readonly string[], served: readonly string[]): string[] | undefined {
  if (wanted.length === 0 || served.some((m) => m.includes('*'))) {
    return undefined;
  }
  const have = new Set(served);
  return wanted.some((m) => have.has(m)) ? undefined : [...wanted];
}

function isHttpUrl(url: string): boolean {
  if (!URL.canParse(url)) {
    return false;
  }
  const { protocol } = new URL(url);
  return protocol === 'http:' || protocol === 'https:';
}

/** Belt and braces: the adapters already redact the key they sent; this also catches the other route's. */
function scrubbed(d: Diagnosis, secrets: readonly (string | undefined)[]): Diagnosis {
  let { message, suggestion } = d;
  for (const s of secrets) {
    if (s !== undefined && s.length >= 4) {
      message = message.split(s).join('[redacted]');
      suggestion = suggestion.split(s).join('[redacted]');
    }
  }
  return { code: d.code, message, suggestion };
}
