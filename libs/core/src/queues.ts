import type { GenerationRequest, GenerationResult, JsonValue, Route, RoutingPolicy, ToolCallDelta } from './domain';
import type { ErrorBody } from './errors';

/**
 * Queue and job names with their payloads, in one place.
 *
 * WARNING: these strings are persisted in Redis. Renaming a value strands every job already
 * enqueued under the old name (no worker will ever pick it up). Add new names; retire old ones
 * only after their queues have drained.
 */
export enum QueueName {
  Generation = 'generation',
  Usage = 'usage',
  /**
   * The health monitor's probes, model discovery and history pruning (see HealthJobName); alert deliveries queued by
   * releases before HealthAlerts are still taken from it.
   */
  Health = 'health',
  /** The health monitor's alert deliveries (HealthJobName.SendAlert): slots of their own, apart from the probes'. */
  HealthAlerts = 'health-alerts',
}

export enum JobName {
  Generate = 'generate',
  RecordUsage = 'record-usage',
}

export interface GenerateJobData {
  request: GenerationRequest;
  /** Reply channel of the gateway instance waiting for this job; null for async jobs (nobody listens). */
  replyTo: string | null;
  /**
   * Set when identical requests may join this job (ADR 0007): the worker mirrors its replies for them under this
   * key's in-flight names and ends its in-flight marker when the job ends.
   */
  coalescingKey?: string;
  /**
   * Set on sync jobs (ADR 0001): the gateway enqueued the job with `removeOnComplete: true`, so BullMQ deletes it
   * as it completes, and the worker keeps its outcome under `outcome:<jobId>` for the gateway's read-back (a lost
   * reply, an Idempotency-Key replay) before completing it: until the request's deadline plus
   * `OUTCOME_MARGIN_MS`, and at least this many ms (Idempotency-Key replays, coalesced followers). Absent (async
   * jobs, jobs enqueued by an older gateway): BullMQ keeps the job and its return value.
   */
  keepOutcomeMs?: number;
  /**
   * Set by a gateway that reads `chunks` messages: the worker may publish the deltas one provider read delivered
   * together as one message. Absent (an older gateway), every delta is a `chunk` message of its own.
   */
  batchChunks?: true;
  /**
   * Set on the native API's jobs (`POST /api/v1/ai/jobs`, `/generate`): which of `prompt` and `messages` the body
   * sent, so that a failed job's error names the field of that body (`prompt`, `options.stop`), not its OpenAI
   * spelling. The worker only copies it (with `nativeSystemPrompt`) into a sync job's kept outcome when the job failed
   * (`KeptNative`): `GET /api/v1/ai/jobs/:id` reads that outcome once BullMQ removed the job.
   */
  nativeInput?: NativeInput;
  /**
   * Beside `nativeInput`: the body sent a `systemPrompt`, which went first among the request's messages, so that an
   * error naming a message by its index (`messages[1].content`) names the body's. A separate field, not a value of
   * `nativeInput`, so that a gateway older than it reads the jobs a newer one enqueued as before.
   */
  nativeSystemPrompt?: true;
}

/** The native API's input field: `prompt` or `messages`. */
export type NativeInput = 'prompt' | 'messages';

/**
 * What a failed sync job's kept outcome carries of its job's `nativeInput` and `nativeSystemPrompt` (absent on a job
 * the native API did not make, on an answer, and from a worker older than the fields): the job is gone by the time
 * `GET /api/v1/ai/jobs/:id` reads the outcome, and its error is stored as the provider named it.
 */
export type KeptNative = Pick<GenerateJobData, 'nativeInput' | 'nativeSystemPrompt'>;

/** The job's native fields for its kept outcome: only for a failed native job, nothing (no bytes) otherwise. */
export function keptNative(data: GenerateJobData, outcome: GenerateOutcome): KeptNative {
  if (outcome.ok || data.nativeInput === undefined) {
    return {};
  }
  return data.nativeSystemPrompt === true
    ? { nativeInput: data.nativeInput, nativeSystemPrompt: true }
    : { nativeInput: data.nativeInput };
}

/** How long past its request's deadline a sync job's outcome stays readable (clock skew, a read-back in flight). */
export const OUTCOME_MARGIN_MS = 10_000;

/** TTL of a sync job's kept outcome when it completes at `now` (see `GenerateJobData.keepOutcomeMs`). */
export function outcomeTtlMs(deadlineAt: number, keepOutcomeMs: number, now: number): number {
  return Math.max(deadlineAt + OUTCOME_MARGIN_MS - now, keepOutcomeMs, 1);
}

export interface UsageEvent {
  requestId: string;
  userId: string;
  apiKeyId: string;
  requestedModel: string;
  provider: string | null;
  model: string | null;
  context: string | null;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  costUsd: number;
  /** A response cache hit's: the cost of the answer it replayed. Absent (0) otherwise and in older events. */
  costSavedUsd?: number;
  /** The request's whole time, from its arrival (its queue wait, every attempt and wait before the answer). */
  latencyMs: number;
  /**
   * A success's: the answering provider call's own time (`GenerationResult.providerLatencyMs`), which the deployment's
   * latency statistics average (the models listing, the latency policy's history): `latencyMs` holds the time the
   * request spent before that call too (its queue wait, other deployments' failures, the waits between retries).
   * Absent on failures, cache hits, coalesced followers and events of an older worker.
   */
  providerLatencyMs?: number;
  cached: boolean;
  status: 'success' | 'error';
  errorClass: string | null;
  /** The answer's ErrorCode, or CLIENT_CLOSED_REQUEST for a client that left. */
  errorCode: string | null;
  attempts: number;
  /**
   * The provider attempts of this request that failed before the one the event stands for (a fallback's failed
   * deployments). The writer stores each as a row of its own linked to the request (`attempt_of`), which the models
   * listing's success rates and latencies count and per-user request counts, quotas and analytics do not: the
   * request is counted once. Absent (none, or an event from an older worker): nothing more is stored.
   */
  failedAttempts?: FailedAttempt[];
  policy: RoutingPolicy | null;
  stream: boolean;
  /** ISO timestamp of when the request was received. */
  createdAt: string;
}

/**
 * A failed provider attempt of a request, as its usage event carries it. A failed call is not billed, unless its
 * provider charged for it all the same (`charged`: the sum of its calls' `Charge`s).
 */
export interface FailedAttempt {
  provider: string;
  model: string;
  errorClass: string | null;
  latencyMs: number;
  charged?: { promptTokens: number; completionTokens: number; cachedTokens: number; costUsd: number };
}

/** How a request ended, as its usage event says it; the rest of the event is the request's own. */
export type UsageOutcome = Omit<
  UsageEvent,
  'requestId' | 'userId' | 'apiKeyId' | 'requestedModel' | 'context' | 'policy' | 'stream' | 'createdAt'
>;

/**
 * The usage event of a request that ended in an error no worker run recorded (a coalesced follower's, a job BullMQ
 * failed for good): no cost, no attempts of its own (which keeps it out of the deployment's statistics), the
 * deployment named where one is known. `cached`: a stale answer stood in for the error.
 */
export function unrecordedFailureOf(
  request: GenerationRequest,
  o: Pick<UsageOutcome, 'provider' | 'model' | 'errorClass' | 'errorCode'> & { cached?: boolean },
): UsageEvent {
  return usageRecordOf(request, {
    provider: o.provider,
    model: o.model,
    promptTokens: 0,
    completionTokens: 0,
    cachedTokens: 0,
    costUsd: 0,
    latencyMs: Math.max(0, Date.now() - request.receivedAt),
    cached: o.cached ?? false,
    status: 'error',
    errorClass: o.errorClass,
    errorCode: o.errorCode,
    attempts: 0,
  });
}

/**
 * A request's usage event: its own fields and the outcome's, in one literal, not `{ ...base, more }` (on Node 20
 * that spread cost ~17 µs of a worker's CPU per request, objects.ts). The one builder of the worker's events and the
 * gateway's (cache hits, coalesced followers).
 */
export function usageRecordOf(request: GenerationRequest, o: UsageOutcome): UsageEvent {
  return {
    requestId: request.requestId,
    userId: request.userId,
    apiKeyId: request.apiKeyId,
    requestedModel: request.model,
    context: request.context ?? null,
    policy: request.policy ?? null,
    stream: request.stream,
    createdAt: new Date(request.receivedAt).toISOString(),
    provider: o.provider,
    model: o.model,
    promptTokens: o.promptTokens,
    completionTokens: o.completionTokens,
    cachedTokens: o.cachedTokens,
    costUsd: o.costUsd,
    costSavedUsd: o.costSavedUsd,
    latencyMs: o.latencyMs,
    providerLatencyMs: o.providerLatencyMs,
    cached: o.cached,
    status: o.status,
    errorClass: o.errorClass,
    errorCode: o.errorCode,
    attempts: o.attempts,
    failedAttempts: o.failedAttempts,
  };
}

/**
 * Usage events travel in batches: a worker ships every event that finished while its previous shipment
 * was being added as ONE job (group commit), so the usage queue costs one job per batch, not per request.
 * The writer stores events idempotently by request id.
 */
export interface UsageBatch {
  events: UsageEvent[];
}

/**
 * Usage events that ship in one job at once, without waiting out USAGE_LINGER_MS. In a worker a lingering event
 * holds its generate job's slot, so under load (where this many gather within a few ms) the count ships them, and
 * the linger only bounds the wait at low load, where slots are plenty and each usage job's round trips are the cost.
 */
export const USAGE_SHIP_AT_EVENTS = 16;

/** Backoff type of usage jobs (the usage writer registers its strategy) and their attempts: hours of retries. */
export const USAGE_BACKOFF = 'usage-capped';
export const USAGE_JOB_ATTEMPTS = 1000;

/**
 * Options of every usage batch job, whoever adds it (a worker's group commit, the gateway for cache hits): hours
 * of capped retries, failed ones stay visible. Duplicates (a re-run generate job) die in the idempotent insert.
 */
export function usageJobOptions(): {
  attempts: number;
  backoff: { type: string };
  removeOnComplete: true;
  removeOnFail: false;
} {
  return {
    attempts: USAGE_JOB_ATTEMPTS,
    backoff: { type: USAGE_BACKOFF },
    removeOnComplete: true,
    removeOnFail: false,
  };
}

/** Job name → payload and return value. Adding a job name without its entry here does not compile. */
/**
 * What a generate job returns (BullMQ stores it as the job's return value). A generation that failed
 * on every provider is a completed job with `ok: false`: BullMQ's own "failed" state is kept for
 * jobs whose processing crashed.
 */
export type GenerateOutcome =
  | { ok: true; result: GenerationResult }
  | {
      ok: false;
      error: ErrorBody;
      retryAfterMs?: number;
      /**
       * Why the worker aborted the generation, null when it was not aborted: `client_disconnected` (its client left,
       * or its owner cancelled the job) is how a job's status tells that abort from other failures, since its `error`
       * reads `timeout`. Written by the worker on every failure, so that absent means an outcome of an older worker
       * (see the gateway's `endedClientGone`). Internal: never part of an answer, which carries `error` alone.
       */
      abortCause?: AbortCause | null;
    };

/** Why a worker aborted a running generation (the `reason` of its AbortSignal, and of its stored outcome). */
export type AbortCause = 'deadline' | 'client_disconnected' | 'shutdown';

export interface JobMap {
  [JobName.Generate]: { data: GenerateJobData; result: GenerateOutcome };
  [JobName.RecordUsage]: { data: UsageBatch; result: void };
}

export const QUEUE_OF_JOB: { readonly [J in JobName]: QueueName } = {
  [JobName.Generate]: QueueName.Generation,
  [JobName.RecordUsage]: QueueName.Usage,
};

/** One delta of a streamed answer as relayed: its text, and the rarer fields only when it carries them. */
export interface ReplyPiece {
  text: string;
  finishReason?: string | null;
  /** Tool-call fragments and reasoning text, only on pieces that carry them (most carry text only). */
  toolCalls?: ToolCallDelta[];
  reasoning?: string;
  /** See `StreamDelta`: the signature that ends a thinking block, or a whole redacted one. */
  reasoningSignature?: string;
  redactedReasoning?: string;
  refusal?: string;
  /** The provider's `choices[0].logprobs` of this delta, when the client asked for them. */
  logprobs?: JsonValue;
  /** The answer's sources, on the piece whose delta first carried them (see `StreamDelta`). */
  citations?: string[];
  searchResults?: JsonValue[];
  annotations?: JsonValue[];
}

/**
 * Messages a worker publishes on a gateway's reply channel, in order, for one job.
 * Non-streamed jobs get exactly one `result` or `error`. Streamed jobs get `start`, then
 * `chunk`s with increasing `seq`, then `end` or `error`. For a job with `batchChunks`, deltas that arrived in one
 * provider read travel as one `chunks` message: `seq` is its first piece's, the others follow on (seq + index).
 *
 * A final message too big to publish (over the worker's REPLY_PUBLISH_MAX_CHARS: Redis drops a subscriber whose
 * pending output passes `client-output-buffer-limit pubsub`, and every other reply on that connection with it) goes
 * as `stored` instead, once the job's outcome is kept: the gateway reads the answer from the outcome at once.
 */
export type ReplyMessage =
  | { t: 'result'; jobId: string; result: GenerationResult }
  | { t: 'error'; jobId: string; error: ErrorBody; retryAfterMs?: number }
  | {
      t: 'start';
      jobId: string;
      provider: string;
      model: string;
      route: Route;
      /** Attempts made so far, this one included (earlier ones failed before their first chunk). */
      attempts: number;
      id: string;
      created: number;
      /** The provider's `system_fingerprint`, when its stream's first chunk carried one (OpenAI-compatible). */
      systemFingerprint?: string;
      /** The provider's `service_tier`, when its stream's first chunk carried one (OpenAI's). */
      serviceTier?: string;
      /**
       * Prompt tokens, as the provider's stream said at its start (Anthropic's message_start) or else the worker's
       * estimate: Anthropic-format clients read them from message_start.
       */
      promptTokens?: number;
      /** Of `promptTokens`, those the provider's prompt cache served, when its stream's start said (Anthropic's). */
      cachedPromptTokens?: number;
      /** Of `promptTokens`, those written to the provider's prompt cache, when its stream's start said. */
      cacheWritePromptTokens?: number;
      /**
       * The job's run (BullMQ's `attemptsStarted`) when above 1: a worker took the job over from one that died, and
       * this run's stream starts again (its chunks from seq 0) with a generation of its own.
       */
      run?: number;
    }
  | ({ t: 'chunk'; jobId: string; seq: number } & ReplyPiece)
  | { t: 'chunks'; jobId: string; seq: number; pieces: ReplyPiece[] }
  | {
      t: 'end';
      jobId: string;
      result: GenerationResult;
      /**
       * How many chunk seqs the worker used (the next seq it would have sent): a gateway that relayed fewer lost the
       * stream's last chunks, which no later chunk shows as a gap. Absent from a worker of an older version.
       */
      chunks?: number;
    }
  /** In place of a final message too big to publish; `chunks` as in `end`. */
  | { t: 'stored'; jobId: string; chunks?: number };

/** Control messages over @nestjs/microservices (Redis transport). */
export enum ControlPattern {
  /** A client went away or a deadline passed: abort the provider call of this job, wherever it runs. */
  CancelGeneration = 'generation.cancel',
  /** Admin changed providers/models: reload the catalog. */
  ProviderChanged = 'provider.changed',
  /**
   * Admin revoked a key of a user or changed the user's limits (or the user changed preferences): every api-gateway
   * drops its cached lookups of that user's keys, so the change applies at once rather than after AUTH_CACHE_TTL_MS.
   */
  AuthChanged = 'auth.changed',
  /**
   * Request/reply, api-gateway → health-monitor: run a connection test now (`HealthProbeRequest` →
   * `HealthProbeReply`). Sent on the namespaced channel (see `controlNamespace`), so only this deployment's
   * monitors answer.
   */
  HealthProbe = 'health.probe',
}

export interface CancelGenerationMessage {
  /** Namespace (REDIS_PREFIX) so that several deployments sharing one Redis ignore each other. */
  ns: string;
  jobId: string;
  reason: 'client_disconnected' | 'deadline';
  /**
   * The run to stop: its admission's request id (an Idempotency-Key replay runs a cancelled job's id again, with a new
   * one). Absent (a gateway of an earlier version), any run of the job id is stopped.
   */
  requestId?: string;
}

export interface ProviderChangedMessage {
  ns: string;
  providerId: string | null;
}

export interface AuthChangedMessage {
  ns: string;
  userId: string;
}

/**
 * `usage_records.error_code` of a request its client left (nginx's name for it): neither a timeout in analytics nor
 * a failure of the deployment in its success rate. The answer nobody reads still says `timeout`.
 */
export const CLIENT_CLOSED_REQUEST = 'client_closed_request';

/**
 * The stored answer's message of a generation a worker aborted because its client left (its code is `timeout`: no
 * ErrorCode says "closed by the client"). Not a contract: a job's status reads the outcome's `abortCause`. Kept word
 * for word while gateways of an earlier release (which compare it) or outcomes of earlier workers (read by it, see
 * `endedClientGone`) may still be about.
 */
export const CLIENT_GONE_MESSAGE = 'The request was cancelled: the client went away.';
