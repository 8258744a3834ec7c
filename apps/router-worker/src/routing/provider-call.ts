import {
  circuitCooldownOf,
  circuitOutcomeOf,
  completionIdOf,
  ErrorClass,
  ProviderCallError,
  hasLogprobEntries,
  type CircuitCooldown,
  type Deployment,
  type EmbeddingsInput,
  type GenerationRequest,
  type StreamDelta,
  merged,
} from '@aigw/core';
import {
  classifyError,
  safeMessage,
  type AdapterRequest,
  type AdapterTarget,
  type EmbeddingsAdapterRequest,
  type ProviderAdapter,
  type ResponseObserver,
} from '@aigw/adapters';
import { abortCauseOf } from '../cancel/abort';
import type { ProviderAnswer } from '../generation/outcomes';
import { StreamCollector } from '../generation/stream-collector';
import type { CallObserver, StreamStart } from '../generation/stream-observer';
import type { AdapterSource, AttemptClock, AttemptEvents } from './attempt-ports';
import type { CircuitPort } from './circuit-guard';
import type { LatencySink } from './latency-book';
import type { QuotaObservers } from './quota-book';
import type { RouteOption } from './route-options';
import type { CallerSignal } from '@aigw/adapters';

export interface ProviderCallDeps {
  adapters: AdapterSource;
  circuit: CircuitPort;
  latency: LatencySink;
  /** Sees every response's headers, for the providers' rate limits. */
  quota: QuotaObservers;
  events: AttemptEvents;
  clock: AttemptClock;
}

/** One call: which deployment, over which route, for which request. */
export interface CallSpec {
  deployment: Deployment;
  option: RouteOption;
  request: GenerationRequest;
  signal: CallerSignal;
  /** Sees a streamed answer's start and deltas. */
  observer?: CallObserver;
  /** The probe slot the circuit's permit holds (null for a closed circuit), settled with the call. */
  probeId: string | null;
}

export type CallResult =
  | { ok: true; answer: ProviderAnswer; ms: number }
  | {
      ok: false;
      error: ProviderCallError;
      /**
       * A streamed answer had already reached the observer, or the provider charged for part of the request
       * (`ProviderCallError.billed`): nothing may be retried or replaced.
       */
      committed: boolean;
      /** With `committed`: what the provider had streamed or charged for when it ended (it was generated, and billed). */
      partial?: ProviderAnswer;
      /** The failure left the deployment's circuit open: a retry would be refused. */
      circuitOpen: boolean;
      /**
       * The wait its provider asked for, which set the deployment aside (`circuitCooldownOf`, asked once, here): a
       * retry waits past it; null when the failure asked for none.
       */
      cooldown: CircuitCooldown | null;
    };

/**
 * Our own abort wins over whatever the adapter made of it (a torn socket can look like a network error). A plugin's
 * failure is made safe here (`pluginFailure`); the built-in adapters made theirs safe where they made them.
 */
function classify(
  adapter: ProviderAdapter,
  err: unknown,
  signal: CallerSignal,
  option: RouteOption,
): ProviderCallError {
  let failure = err instanceof ProviderCallError ? err : adapter.classifyError(err, signal);
  if (option.kind === 'plugin') {
    failure = pluginFailure(failure, signal, option.target.apiKey);
  }
  const cause = abortCauseOf(signal);
  if (cause && failure.errorClass !== ErrorClass.Cancelled) {
    return new ProviderCallError(ErrorClass.Cancelled, `call aborted (${cause})`, { cause: failure });
  }
  return failure;
}

/**
 * A plugin's failure as the built-in adapters make theirs: its message, which every client is shown (`attempts`, the
 * error's message, a stream's error event), without the key the call sent (plain, URL-encoded or masked), anything
 * that looks like a key or bearer token, or a URL's credentials, and one line of at most MAX_MESSAGE_CHARS. A plugin is
 * the operator's own code, and its `classifyError(err, signal)` is not given the key to keep out: a ProviderCallError
 * it made quoting its provider's answer, or any other error it threw (or its classifyError returned as it was), went to
 * the client word for word. Failure path only.
 */
function pluginFailure(failure: unknown, signal: CallerSignal, apiKey: string | undefined): ProviderCallError {
  if (!(failure instanceof ProviderCallError)) {
    // Not a failure the attempt loop can read (no class): classified as the built-in adapters classify what they catch.
    return classifyError(failure, signal, apiKey);
  }
  const message = safeMessage(failure.message, apiKey);
  if (message !== failure.message) {
    failure.message = message;
  }
  return failure;
}

interface StreamProgress {
  /** Monotonic ms of the first delta with something for the client (`hasContent`), once it arrived. */
  firstAt: number | null;
  /** Whether the provider's response headers arrived (the quota observer saw them). */
  headers: boolean;
  /**
   * Monotonic ms when the call's request was first written to the provider (`AdapterTarget.sent`: a connection of
   * its pool was had); null while it waits for one of the provider's `maxConnections`, or if it never got one.
   */
  sentAt: number | null;
  /** What the stream brought so far, for the bill of one cut after it reached the client. */
  collector: StreamCollector | null;
  /** Called once, when the first delta has gone to the observer (the answer is committed to this deployment). */
  onCommitted?: () => void;
}

/**
 * Whether a call the request's deadline cut counts against the provider's circuit as its timeout. A cut is our own
 * abort, and counts for nothing by itself: a call started late in the request (after retries and fallbacks) may be
 * cut a moment after it began. But a hung provider whose timeout is at least the request's (120 s both by default)
 * is only ever cut by the deadline: counted as cancelled, its circuit never opened, and every request waited for it
 * until its 504. So a cut counts when the call had no answer at all (no response headers; for a stream, no first
 * chunk) for at least the shorter of its route's timeout and half the request's time budget. A client that left, or
 * a shutdown, counts for nothing, however long the call waited.
 *
 * That wait is counted from when the request was written to the provider (`progress.sentAt`), not from when the call
 * began: a call queued for one of the provider's `maxConnections` (our own pool full, every connection busy with
 * calls the provider is answering) had not reached the provider, and a provider merely busy on our side must not
 * have its circuit opened. A call the deadline cut before it was ever sent counts for nothing. (An adapter that does
 * not send through the HttpPool never reports `sent`, so its cut calls count for nothing, as before this rule.)
 */
function hungUntilDeadline(spec: CallSpec, progress: StreamProgress, now: number): boolean {
  if (abortCauseOf(spec.signal) !== 'deadline' || progress.sentAt === null) {
    return false;
  }
  const { request, option } = spec;
  const answered = request.stream && request.embeddings === undefined ? progress.firstAt !== null : progress.headers;
  const budgetMs = request.deadlineAt - request.receivedAt;
  return !answered && now - progress.sentAt >= Math.min(option.target.timeoutMs, budgetMs / 2);
}

/**
 * Id- or usage-only deltas have nothing for the client; logprobs alone (a token without text) do, and so do sources
 * alone (Perplexity's lists on its first, text-less chunk, or changed mid-stream; OpenAI's annotations on a delta of
 * their own): dropped here, the first went out only with the end (from the result), and a list changed later never.
 * A delta with text stops at the first check.
 */
function hasContent(d: StreamDelta): boolean {
  return (
    d.text !== '' ||
    hasLogprobEntries(d.logprobs) ||
    Boolean(d.finishReason) ||
    d.toolCalls !== undefined ||
    d.reasoning !== undefined ||
    d.reasoningSignature !== undefined ||
    d.redactedReasoning !== undefined ||
    d.refusal !== undefined ||
    d.citations !== undefined ||
    d.searchResults !== undefined ||
    d.annotations !== undefined
  );
}

async function streamAnswer(
  adapter: ProviderAdapter,
  call: AdapterRequest,
  spec: CallSpec,
  progress: StreamProgress,
  clock: AttemptClock,
): Promise<ProviderAnswer> {
  const { deployment: d, option, request, observer } = spec;
  const collector = new StreamCollector(completionIdOf(request.requestId));
  progress.collector = collector;
  for await (const delta of adapter.stream(call, spec.signal)) {
    collector.add(delta, clock.now());
    if (!hasContent(delta)) {
      // An id or usage only (a server that streams usage on every chunk gives it with the role chunk): nothing for the
      // client, so it commits nothing. Committed on it, a stream that failed right after went out as an SSE head and
      // an error event, where nothing but metadata had come and the next deployment could have answered unseen.
      continue;
    }
    if (progress.firstAt === null) {
      progress.firstAt = clock.monotonic();
      const start: StreamStart = merged(collector.head(clock.now()), {
        provider: d.provider.id,
        model: d.model.name,
        route: option.route,
      });
      const usage = collector.usageSoFar();
      if (usage !== undefined && usage.promptTokens > 0) {
        start.promptTokens = usage.promptTokens;
        if (usage.cachedPromptTokens > 0) {
          start.cachedPromptTokens = usage.cachedPromptTokens;
        }
        if (usage.cacheWritePromptTokens !== undefined && usage.cacheWritePromptTokens > 0) {
          start.cacheWritePromptTokens = usage.cacheWritePromptTokens;
        }
      }
      observer?.onStart(start);
      progress.onCommitted?.();
    }
    observer?.onChunk(delta);
  }
  if (progress.firstAt === null) {
    // The stream ended as a whole one (`[DONE]`) without a single delta of an answer (an id or usage at most), not even
    // a finish reason: nothing was generated, as an unstreamed completion without `choices` says. Taken for an empty answer, it was billed, never
    // retried or fallen back from, and counted a success by the circuit. Nothing reached the client: not committed.
    throw new ProviderCallError(ErrorClass.Provider, 'upstream stream ended without an answer');
  }
  return collector.answer(clock.now());
}

/** An embeddings call; its answer carries the vectors instead of text. */
async function embedAnswer(
  adapter: ProviderAdapter,
  call: AdapterRequest,
  request: GenerationRequest & { embeddings: EmbeddingsInput },
  signal: CallerSignal,
  clock: AttemptClock,
): Promise<ProviderAnswer> {
  if (adapter.embed === undefined) {
    // Routing sends embeddings only to families that embed (`embedsWith`): this is the backstop.
    throw new ProviderCallError(ErrorClass.Gateway, `the ${adapter.kind} API does not serve embeddings`);
  }
  const req: EmbeddingsAdapterRequest = { target: call.target, input: request.embeddings.input };
  if (request.embeddings.dimensions !== undefined) {
    req.dimensions = request.embeddings.dimensions;
  }
  if (request.options.user !== undefined) {
    req.user = request.options.user;
  }
  if (request.options.extra !== undefined) {
    req.extra = request.options.extra;
  }
  const res = await adapter.embed(req, signal);
  checkVectorCount(res.embeddings, req.input.length);
  if (req.dimensions !== undefined) {
    checkDimensions(res.embeddings, req.dimensions);
  }
  return {
    id: `emb-${request.requestId}`,
    created: Math.floor(clock.now() / 1000),
    text: '',
    finishReason: null,
    usage: res.usage,
    embeddings: res.embeddings,
  };
}

/**
 * One vector per input, as every client reads `data` (by position or by `index`): the built-in adapters check their
 * wire's answer so; a plugin's `embed` is checked here (one that embeds each distinct text once answered fewer, and
 * the vectors were relayed out of place, the last inputs' missing). A provider error: another deployment may answer.
 */
function checkVectorCount(embeddings: unknown, count: number): void {
  const got = Array.isArray(embeddings) ? embeddings.length : 0;
  if (got !== count || !(embeddings as unknown[]).every((v) => Array.isArray(v))) {
    throw new ProviderCallError(
      ErrorClass.Provider,
      `the deployment answered ${got} embeddings for ${count} inputs${got === count ? ', not all of them vectors' : ''}`,
    );
  }
}

/**
 * OpenAI answers `dimensions` with vectors of that length, or refuses it (400, for a model that cannot shorten). Some
 * servers ignore the field silently and answer the model's full length: llama.cpp's server, LM Studio, Ollama before
 * 0.12. Relayed, such vectors reached a client that asked for 256 values (a pgvector column of 256, an index) as 768,
 * from some deployments of a model and not others. Nothing of such an answer is usable, and another deployment of the
 * model may honour `dimensions`: it is treated as a deployment that cannot express the request (`untranslatable`),
 * the others are tried, and none left is a 400 saying why. The call is not billed (such servers are local ones).
 */
function checkDimensions(embeddings: readonly number[][], dimensions: number): void {
  const wrong = embeddings.find((v) => v.length !== dimensions);
  if (wrong !== undefined) {
    throw new ProviderCallError(
      ErrorClass.InvalidRequest,
      `the deployment answered vectors of ${wrong.length} values, not the ${dimensions} asked for (its server does not take 'dimensions')`,
      { untranslatable: true },
    );
  }
}

function isEmbeddings(request: GenerationRequest): request is GenerationRequest & { embeddings: EmbeddingsInput } {
  return request.embeddings !== undefined;
}

/**
 * The call could not be made (its adapter cannot be had: a plugin that does not load; or its quota observer threw):
 * nothing went to the provider, so its circuit judges nothing, but the probe slot the permit took is freed now. Left
 * taken, it refused the deployment on every worker until it expired (CB_PROBE_TTL_MS), when CB_HALF_OPEN_PROBES
 * slots were all there was. The other candidates may still answer: a gateway error, not retried.
 */
async function notSent(deps: ProviderCallDeps, spec: CallSpec, err: unknown): Promise<CallResult> {
  const { deployment: d, option } = spec;
  const error =
    err instanceof ProviderCallError
      ? err
      : new ProviderCallError(
          ErrorClass.Gateway,
          `the ${option.kind} call to provider '${d.provider.id}' could not be made: ${
            err instanceof Error ? err.message : 'unknown error'
          }`,
          { cause: err },
        );
  await deps.circuit.settle(d.id, spec.probeId, 'neutral');
  deps.events.call(d, error.errorClass, 0);
  return { ok: false, error, committed: false, circuitOpen: false, cooldown: null };
}

/**
 * One call to one deployment over one route, already admitted by its circuit (`probeId` from the permit).
 * Settles the circuit (provider-side failures count, others only free a probe slot), feeds the latency
 * averages on success (time to first chunk for streams), shows every response to the quota observer of its
 * provider and route, and reports the call. Never throws.
 */
export async function callProvider(deps: ProviderCallDeps, spec: CallSpec): Promise<CallResult> {
  const { deployment: d, option, request, signal } = spec;
  const { clock } = deps;
  const progress: StreamProgress = { firstAt: null, headers: false, sentAt: null, collector: null };
  let adapter: ProviderAdapter;
  let quota: ResponseObserver;
  try {
    adapter = deps.adapters.get(option.kind, d.provider);
    quota = deps.quota.observer(d.provider.id, option.route);
  } catch (err) {
    return notSent(deps, spec, err);
  }
  // `observe` and `sent` first: V8 (Node 20) takes a slow path, microseconds, for a property added after a spread.
  // They note when the request reached the provider and that the provider answered, for a deadline cut
  // (`hungUntilDeadline`).
  const target: AdapterTarget = {
    observe: (status, headers) => {
      progress.headers = true;
      quota(status, headers);
    },
    sent: () => {
      progress.sentAt ??= clock.monotonic();
    },
    ...option.target,
  };
  const call: AdapterRequest = { target, messages: request.messages, options: request.options };
  const started = clock.monotonic();
  // A half-open circuit's probe that streams has shown the provider answers once its first delta reached the client:
  // its success closes the circuit then, not when the last delta of a long answer comes. Until then every slot a
  // stream held refused all other calls (503 no_healthy_provider for a pinned model) for the stream's whole length,
  // and one outliving CB_PROBE_TTL_MS let another probe in. Not awaited in the stream's loop (no delta waits on
  // Redis); the call's end waits for it, so a failure after it counts against the circuit it closed.
  // `id`: the probe slot still to settle with the call's end, null once a streamed probe settled it at its start.
  const probe: { id: string | null; settled: Promise<unknown> | null } = { id: spec.probeId, settled: null };
  if (probe.id !== null) {
    const slot = probe.id;
    progress.onCommitted = () => {
      probe.id = null;
      probe.settled = deps.circuit.settle(d.id, slot, 'success');
    };
  }
  try {
    const answer = isEmbeddings(request)
      ? await embedAnswer(adapter, call, request, signal, clock)
      : request.stream
        ? await streamAnswer(adapter, call, spec, progress, clock)
        : await adapter.generate(call, signal);
    if (answer.id === '') {
      // Families whose API gives no completion id (Ollama, TGI): the one a stream of this request would carry.
      answer.id = completionIdOf(request.requestId);
    }
    const ms = clock.monotonic() - started;
    if (probe.settled !== null) {
      // A streamed probe: its success was settled at its first chunk (it closed the circuit), and is counted once.
      await probe.settled;
    } else if (probe.id !== null) {
      // A probe's success closes the circuit, so it is awaited.
      await deps.circuit.settle(d.id, probe.id, 'success');
    } else {
      // A plain success only feeds the failure-rate window: it need not delay the answer (settle never throws).
      void deps.circuit.settle(d.id, null, 'success');
    }
    deps.latency.record(d.id, request.stream, progress.firstAt === null ? ms : progress.firstAt - started);
    deps.events.call(d, 'success', ms);
    return { ok: true, answer, ms };
  } catch (err) {
    const ms = clock.monotonic() - started;
    const error = classify(adapter, err, signal, option);
    await probe.settled;
    // A provider that asked for a wait (a 429, 503 or 529 with Retry-After) is set aside for it on every worker,
    // in the script call a failure would have made, instead of counting as failing.
    const cooldown = circuitCooldownOf(error);
    // A call the deadline cut while the provider had not answered for long is its timeout, as far as its circuit
    // and the call metrics go; the request still ends as the deadline's (504).
    const hung = hungUntilDeadline(spec, progress, started + ms);
    const circuitOpen =
      cooldown === null
        ? await deps.circuit.settle(d.id, probe.id, hung ? 'failure' : circuitOutcomeOf(error.errorClass))
        : await deps.circuit.settle(d.id, probe.id, 'cooldown', cooldown);
    deps.events.call(d, hung ? ErrorClass.Timeout : error.errorClass, ms);
    // Part of the request was charged for (the batches of an embeddings request before the one that failed): that
    // much cost money, as a cut stream's text did, so it is committed alike (no retry, no fallback, which would pay
    // for it again) and billed with the failure. Read from what the adapter threw: our abort wraps it (classify).
    const billed = err instanceof ProviderCallError ? err.billed : undefined;
    if (billed !== undefined) {
      const partial: ProviderAnswer = {
        id: '',
        created: Math.floor(clock.now() / 1000),
        text: '',
        finishReason: null,
        usage: billed,
      };
      return { ok: false, error, committed: true, partial, circuitOpen, cooldown };
    }
    if (progress.firstAt === null || progress.collector === null) {
      return { ok: false, error, committed: false, circuitOpen, cooldown };
    }
    return {
      ok: false,
      error,
      committed: true,
      partial: progress.collector.answer(clock.now()),
      circuitOpen,
      cooldown,
    };
  }
}
