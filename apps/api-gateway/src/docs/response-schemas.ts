import {
  CIRCUIT_STATES,
  DIAGNOSIS_CODES,
  ErrorCode,
  HEALTH_ROUTES,
  KNOWN_CAPABILITIES,
  MAX_DISPLAY_NAME,
  MAX_MODEL_DESCRIPTION,
  PROBE_MODES,
  PROVIDER_HEALTH_STATUSES,
  PROVIDER_KINDS,
  ROUTING_METHODS,
} from '@aigw/core';
import { USAGE_GROUP_BYS } from '@aigw/entities';
import type { ReferenceObject, SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { ADMIN_USAGE_GROUP_BYS, COST_GROUP_BYS } from '../analytics/analytics-query.dto';
import { WARM_SKIP_REASONS } from '../generation/cache-stage';
import { UNAVAILABILITIES } from '../models/deployment-signals.service';

/*
 * The bodies the client-facing routes answer with, as components of the OpenAPI document. They are written by hand
 * from the view types (ChatCompletion, AnthropicMessage, GenerateResponse, JobStatusView, ModelListItem,
 * PreferenceView, UsageView, ...); test/gateway/docs/response-schemas.test.ts (a stand-in worker) and
 * test/e2e/openapi-contract.test.ts (the whole system) validate real answers of every route against them,
 * undocumented fields included, so they cannot drift from the code.
 */

export type Schema = SchemaObject | ReferenceObject;

const ref = (name: string): ReferenceObject => ({ $ref: `#/components/schemas/${name}` });
const STRING: SchemaObject = { type: 'string' };
const INTEGER: SchemaObject = { type: 'integer' };
const NUMBER: SchemaObject = { type: 'number' };
const BOOLEAN: SchemaObject = { type: 'boolean' };
const DATE_TIME: SchemaObject = { type: 'string', format: 'date-time' };
const nullable = (schema: SchemaObject): SchemaObject => ({ ...schema, nullable: true });
const constant = (value: string | boolean): SchemaObject => ({ type: typeof value, enum: [value] });
const arrayOf = (items: Schema): SchemaObject => ({ type: 'array', items });
const described = (schema: SchemaObject, description: string): SchemaObject => ({ ...schema, description });

const CAPABILITIES: SchemaObject = { type: 'array', items: { type: 'string', enum: [...KNOWN_CAPABILITIES] } };

/** An object whose every property is required but those named in `optional`. */
function object(properties: Record<string, Schema>, optional: readonly string[] = []): SchemaObject {
  const required = Object.keys(properties).filter((k) => !optional.includes(k));
  // OpenAPI 3.0 refuses an empty `required`.
  return required.length > 0 ? { type: 'object', required, properties } : { type: 'object', properties };
}

/** Any JSON value, null included (a provider's own data passed on as it is). */
const ANY_JSON: SchemaObject = {};

const ATTEMPT = object(
  {
    provider: STRING,
    model: STRING,
    route: { type: 'string', enum: ['direct', 'gateway'] },
    ok: BOOLEAN,
    errorClass: described(STRING, 'Why the attempt failed (when `ok` is false).'),
    status: described(INTEGER, "The provider's HTTP status (when it answered one)."),
    overloaded: described(
      BOOLEAN,
      "True when the provider said it is overloaded (Anthropic's overloaded_error, Gemini's UNAVAILABLE), with a 529 or in a stream.",
    ),
    message: STRING,
    latencyMs: NUMBER,
    retries: INTEGER,
  },
  ['errorClass', 'status', 'overloaded', 'message'],
);

const ERROR_BODY = object(
  {
    message: described(STRING, 'What went wrong, for a person; never contains a secret.'),
    type: described(STRING, 'OpenAI-style error family, e.g. invalid_request_error.'),
    code: { type: 'string', enum: Object.values(ErrorCode) },
    param: described(nullable(STRING), 'The request field at fault (dotted path), or null.'),
    attempts: described(
      arrayOf(ref('Attempt')),
      'Every provider call the gateway made, on `all_providers_failed` (502), `provider_rate_limited` (429), ' +
        '`all_providers_overloaded` (503) and failed jobs that tried providers.',
    ),
  },
  ['attempts'],
);

const ERROR_ENVELOPE: SchemaObject = {
  ...object({ error: ref('ErrorBody') }),
  example: {
    error: {
      message: 'messages must contain at least 1 elements',
      type: 'invalid_request_error',
      code: 'invalid_request',
      param: 'messages',
    },
  },
};

const ANTHROPIC_ERROR_ENVELOPE: SchemaObject = described(
  object({
    type: constant('error'),
    error: object({
      type: described(STRING, "Anthropic's error type, e.g. invalid_request_error, overloaded_error."),
      message: STRING,
      code: { type: 'string', enum: Object.values(ErrorCode) },
      param: nullable(STRING),
    }),
  }),
  "The errors of the Anthropic routes, in Anthropic's shape; the gateway's `code` and `param` ride along.",
);

const TOOL_CALL = object({
  id: STRING,
  type: constant('function'),
  function: object({ name: STRING, arguments: described(STRING, 'JSON text, as the model wrote it.') }),
});

const THINKING_BLOCK: SchemaObject = {
  description: "Anthropic's signed reasoning (LiteLLM's `thinking_blocks`): sent back unchanged in history.",
  oneOf: [
    object({ type: constant('thinking'), thinking: STRING, signature: STRING }),
    object({ type: constant('redacted_thinking'), data: STRING }),
  ],
};

const OPENAI_USAGE = object(
  {
    prompt_tokens: INTEGER,
    completion_tokens: INTEGER,
    total_tokens: INTEGER,
    prompt_tokens_details: object({ cached_tokens: INTEGER, audio_tokens: INTEGER }, ['audio_tokens']),
    completion_tokens_details: object(
      { reasoning_tokens: INTEGER, accepted_prediction_tokens: INTEGER, rejected_prediction_tokens: INTEGER },
      ['accepted_prediction_tokens', 'rejected_prediction_tokens'],
    ),
  },
  ['completion_tokens_details'],
);

/** The sources an OpenAI-compatible provider gives with its answer, passed on where it put them. */
const CITATIONS = described(
  arrayOf(STRING),
  "Perplexity's source URLs (the answer's `[1]`, `[2]` markers number them), when the provider sent them.",
);
const SEARCH_RESULTS = described(
  arrayOf(ANY_JSON),
  "Perplexity's `search_results` (`{title, url, date, ...}` each), as the provider sent them.",
);
const SERVICE_TIER = described(STRING, "OpenAI's `service_tier`: the tier that served the request, when it said.");
const ANNOTATIONS = described(
  arrayOf(ANY_JSON),
  "The provider's annotations of the text (OpenAI's search models: `url_citation`s), as it sent them.",
);

const CHAT_COMPLETION = object(
  {
    id: STRING,
    object: constant('chat.completion'),
    created: INTEGER,
    model: described(STRING, 'The deployment that answered (`provider/model`).'),
    choices: arrayOf(
      object({
        index: INTEGER,
        message: object(
          {
            role: constant('assistant'),
            content: described(nullable(STRING), 'Null on a turn of tool calls only.'),
            refusal: nullable(STRING),
            tool_calls: arrayOf(ref('ToolCall')),
            reasoning_content: STRING,
            thinking_blocks: arrayOf(ref('ThinkingBlock')),
            annotations: ANNOTATIONS,
          },
          ['tool_calls', 'reasoning_content', 'thinking_blocks', 'annotations'],
        ),
        finish_reason: described(STRING, '`stop`, `length`, `tool_calls`, `content_filter`.'),
        logprobs: described(ANY_JSON, "The provider's logprobs as it sent them, or null."),
      }),
    ),
    usage: ref('ChatCompletionUsage'),
    system_fingerprint: STRING,
    service_tier: SERVICE_TIER,
    citations: CITATIONS,
    search_results: SEARCH_RESULTS,
  },
  ['system_fingerprint', 'service_tier', 'citations', 'search_results'],
);

const CHUNK_DELTA = object(
  {
    role: constant('assistant'),
    content: STRING,
    refusal: STRING,
    reasoning_content: STRING,
    tool_calls: arrayOf(
      object(
        {
          index: INTEGER,
          id: STRING,
          type: constant('function'),
          function: object({ name: STRING, arguments: STRING }, ['name']),
        },
        ['id', 'type'],
      ),
    ),
    thinking_blocks: arrayOf(ref('ThinkingBlock')),
    annotations: described(ANNOTATIONS, 'On the chunk of the annotations the provider streamed, as it streamed them.'),
  },
  ['role', 'content', 'refusal', 'reasoning_content', 'tool_calls', 'thinking_blocks', 'annotations'],
);

const CHAT_COMPLETION_CHUNK = described(
  object(
    {
      id: STRING,
      object: constant('chat.completion.chunk'),
      created: INTEGER,
      model: STRING,
      choices: described(
        arrayOf(object({ index: INTEGER, delta: CHUNK_DELTA, logprobs: ANY_JSON, finish_reason: nullable(STRING) })),
        'One choice; empty in the usage chunk.',
      ),
      usage: described(
        nullable(OPENAI_USAGE),
        'With `stream_options.include_usage`: the usage on the last chunk, null on every other one.',
      ),
      system_fingerprint: described(STRING, "The provider's, on every chunk when it sent one."),
      service_tier: described(SERVICE_TIER, 'On every chunk, as OpenAI sends it.'),
      citations: described(CITATIONS, 'Once, on the first chunk they are known (again only if the list changes).'),
      search_results: described(SEARCH_RESULTS, 'Likewise.'),
    },
    ['usage', 'system_fingerprint', 'service_tier', 'citations', 'search_results'],
  ),
  'The `data` of one event of a streamed chat completion; the last chunk carries `usage` when ' +
    '`stream_options.include_usage` asked for it.',
);

const ANTHROPIC_BLOCK: SchemaObject = {
  oneOf: [
    object({ type: constant('text'), text: STRING }),
    object({
      type: constant('tool_use'),
      id: STRING,
      name: STRING,
      input: { type: 'object', additionalProperties: true },
    }),
    object({ type: constant('thinking'), thinking: STRING, signature: STRING }),
    object({ type: constant('redacted_thinking'), data: STRING }),
  ],
};

const ANTHROPIC_MESSAGE = object({
  id: STRING,
  type: constant('message'),
  role: constant('assistant'),
  model: described(STRING, 'The deployment that answered (`provider/model`).'),
  content: arrayOf(ANTHROPIC_BLOCK),
  stop_reason: described(
    STRING,
    "`end_turn`, `max_tokens`, `stop_sequence`, `tool_use`, `refusal`; an Anthropic provider's own as it gave it (`pause_turn`, `model_context_window_exceeded`).",
  ),
  stop_sequence: nullable(STRING),
  usage: object({
    input_tokens: INTEGER,
    output_tokens: INTEGER,
    cache_creation_input_tokens: INTEGER,
    cache_read_input_tokens: INTEGER,
  }),
});

const EMBEDDING_LIST = object({
  object: constant('list'),
  data: arrayOf(
    object({
      object: constant('embedding'),
      index: INTEGER,
      embedding: {
        description: 'Floats, or with `encoding_format: base64` their little-endian float32 bytes in base64.',
        oneOf: [arrayOf(NUMBER), STRING],
      },
    }),
  ),
  model: STRING,
  usage: object({ prompt_tokens: INTEGER, total_tokens: INTEGER }),
});

const OPENAI_MODEL = object({
  id: described(STRING, 'A deployment (`provider/model`) or a model name (any provider serving it).'),
  object: constant('model'),
  created: INTEGER,
  owned_by: described(STRING, 'The provider of a deployment; `aigw` for a model name.'),
});

/** Anthropic's `ModelInfo`, as `GET /v1/models[/{id}]` answers a request with `anthropic-version`. */
const ANTHROPIC_MODEL = object({
  type: constant('model'),
  id: described(STRING, 'As in the OpenAI list: a deployment (`provider/model`) or a model name.'),
  display_name: STRING,
  created_at: DATE_TIME,
});

/** A page of Anthropic's model list: `first_id` / `last_id` are the cursors of the pages before and after it. */
const ANTHROPIC_MODEL_PAGE = object({
  data: arrayOf(ref('AnthropicModel')),
  has_more: BOOLEAN,
  first_id: described(nullable(STRING), 'Pass as `before_id` for the page before; null on an empty page.'),
  last_id: described(nullable(STRING), 'Pass as `after_id` for the page after; null on an empty page.'),
});

const USAGE = object(
  {
    promptTokens: INTEGER,
    completionTokens: INTEGER,
    totalTokens: INTEGER,
    cachedPromptTokens: described(INTEGER, "Prompt tokens the provider's prompt cache served."),
    cacheWritePromptTokens: INTEGER,
    cacheWrite1hPromptTokens: described(
      INTEGER,
      'Part of `cacheWritePromptTokens` written to Claude\'s 1-hour cache (`cache_control.ttl: "1h"`), billed at twice the prompt price.',
    ),
    reasoningTokens: described(INTEGER, 'Part of `completionTokens` spent on hidden reasoning.'),
    acceptedPredictionTokens: described(
      INTEGER,
      "Predicted Outputs: of the prediction's tokens, those in the completion (part of `completionTokens`).",
    ),
    rejectedPredictionTokens: described(
      INTEGER,
      "Predicted Outputs: of the prediction's tokens, those not in the completion (part of `completionTokens`, billed).",
    ),
    audioPromptTokens: described(INTEGER, "Part of `promptTokens` from the request's audio parts."),
  },
  [
    'cacheWritePromptTokens',
    'cacheWrite1hPromptTokens',
    'reasoningTokens',
    'acceptedPredictionTokens',
    'rejectedPredictionTokens',
    'audioPromptTokens',
  ],
);

const GENERATE_RESPONSE = object(
  {
    requestId: STRING,
    text: STRING,
    provider: STRING,
    model: STRING,
    finishReason: nullable(STRING),
    usage: ref('Usage'),
    costUsd: NUMBER,
    latencyMs: NUMBER,
    attempts: arrayOf(ref('Attempt')),
    cached: described(BOOLEAN, 'Answered from the response cache (no provider call; `costUsd` is 0).'),
    refusal: described(STRING, "The model's refusal, when its provider gave one (`text` is then empty)."),
    reasoning: described(
      STRING,
      "The model's reasoning, when its provider returned it (DeepSeek's `reasoning_content`, Claude's thinking): " +
        "chat's `message.reasoning_content`.",
    ),
    thinkingBlocks: described(
      arrayOf(ref('ThinkingBlock')),
      "Claude's signed reasoning (chat's `message.thinking_blocks`): a later turn sends them back unchanged.",
    ),
    citations: CITATIONS,
    searchResults: SEARCH_RESULTS,
    serviceTier: SERVICE_TIER,
    annotations: ANNOTATIONS,
  },
  ['refusal', 'reasoning', 'thinkingBlocks', 'citations', 'searchResults', 'serviceTier', 'annotations'],
);

/** A job's states, as `GET /api/v1/ai/jobs/{id}` reads them (`JobState`). */
const JOB_STATE: SchemaObject = { type: 'string', enum: ['queued', 'running', 'completed', 'failed', 'cancelled'] };

const JOB_ACCEPTED = object({
  jobId: STRING,
  // Not always `queued`: a replay with the same Idempotency-Key answers the state of the job it found.
  status: described(
    JOB_STATE,
    '`queued` for a new job; a replay with the same `Idempotency-Key` says the state of the job it found.',
  ),
});

const JOB_STATUS = object(
  {
    jobId: STRING,
    status: JOB_STATE,
    result: { description: 'When `completed`.', allOf: [ref('GenerateResponse')] },
    error: { description: 'When `failed`; `attempts` when providers were tried.', allOf: [ref('ErrorBody')] },
    createdAt: DATE_TIME,
    finishedAt: DATE_TIME,
  },
  ['result', 'error', 'finishedAt'],
);

const UNAVAILABLE_REASON = described(
  // `null` among the values too: a validator checks `enum` before `nullable` lets a null through.
  nullable({ type: 'string', enum: [...UNAVAILABILITIES, null] }),
  'Why it is not available; null when it is. `cooldown`: its provider answered a 429, 503 or 529 with Retry-After ' +
    'and is left alone until `cooldownUntil` (nothing failed); `circuit_open`: repeated failures.',
);
const PREFERENCE_UNAVAILABLE_REASON = described(
  nullable({ type: 'string', enum: [...UNAVAILABILITIES, 'deleted', null] }),
  'Why it is not available, as the models listing says it, or `deleted` when its deployment is no longer in the ' +
    'catalog (its provider or model deleted); null when it is.',
);
const COOLDOWN_UNTIL = described(nullable(DATE_TIME), 'With `cooldown`: when the wait its provider asked for ends.');

const MODEL_LIST_ITEM = object({
  id: described(STRING, '`provider/model`: what a request pins.'),
  provider: STRING,
  model: STRING,
  displayName: STRING,
  providerDisplayName: STRING,
  description: nullable(STRING),
  capabilities: CAPABILITIES,
  contextWindow: INTEGER,
  pricing: object({ promptPer1k: NUMBER, completionPer1k: NUMBER }),
  avgLatencyMs: described(nullable(NUMBER), 'Successful provider calls of the last 24 h; null without any.'),
  successRate: described(nullable(NUMBER), '0..1 over the last 24 h; null without any.'),
  requests24h: INTEGER,
  health: { type: 'string', enum: [...PROVIDER_HEALTH_STATUSES] },
  available: described(BOOLEAN, 'Enabled, circuit not open, not cooling down, health not failing.'),
  unavailableReason: UNAVAILABLE_REASON,
  cooldownUntil: COOLDOWN_UNTIL,
  recommended: BOOLEAN,
});

const PREFERENCE = object({
  context: described(STRING, '`""` is the default.'),
  id: STRING,
  provider: nullable(STRING),
  model: STRING,
  providerDisplayName: nullable(STRING),
  modelDisplayName: STRING,
  available: BOOLEAN,
  unavailableReason: PREFERENCE_UNAVAILABLE_REASON,
  cooldownUntil: COOLDOWN_UNTIL,
  usageCount: INTEGER,
  lastUsedAt: nullable(DATE_TIME),
  last30Days: object({ requests: INTEGER, costUsd: NUMBER }),
  createdAt: DATE_TIME,
  updatedAt: DATE_TIME,
});

const USAGE_TOTALS: Record<string, SchemaObject> = {
  requests: INTEGER,
  promptTokens: INTEGER,
  completionTokens: INTEGER,
  cachedPromptTokens: INTEGER,
  cachedRequests: described(INTEGER, 'Requests answered without a provider call of their own (cache, coalesced).'),
  costUsd: NUMBER,
};

/** A limit, or what is left of it: null when there is none. */
const LIMIT = nullable(NUMBER);

const USAGE_REPORT = object({
  from: DATE_TIME,
  to: DATE_TIME,
  groupBy: { type: 'string', enum: [...USAGE_GROUP_BYS] },
  totals: object(USAGE_TOTALS),
  groups: arrayOf(
    described(
      object(
        Object.fromEntries([
          ...USAGE_GROUP_BYS.map((by) => [by, nullable(STRING)]),
          ...Object.entries(USAGE_TOTALS),
        ]) as Record<string, SchemaObject>,
        USAGE_GROUP_BYS,
      ),
      'The group (the field named by `groupBy`: a UTC day, a model, or a provider, null when none answered) and ' +
        'its totals.',
    ),
  ),
  quota: object({
    tier: STRING,
    dailyRequestLimit: LIMIT,
    monthlyRequestLimit: LIMIT,
    dailySpendLimitUsd: LIMIT,
    monthlySpendLimitUsd: LIMIT,
    dailyRequests: INTEGER,
    monthlyRequests: INTEGER,
    dailySpendUsd: NUMBER,
    monthlySpendUsd: NUMBER,
    remaining: object({ dailyRequests: LIMIT, monthlyRequests: LIMIT, dailySpendUsd: LIMIT, monthlySpendUsd: LIMIT }),
    resetsAt: object({ daily: DATE_TIME, monthly: DATE_TIME }),
  }),
});

const USER = object({ id: STRING, name: STRING, tier: STRING, createdAt: DATE_TIME });

/** A key as the admin API shows it: its visible prefix, never the key or its hash. */
const API_KEY_FIELDS: Record<string, Schema> = {
  id: STRING,
  prefix: described(STRING, 'The visible start of the key (`sk-aigw-...`).'),
  name: nullable(STRING),
  role: { type: 'string', enum: ['user', 'admin'] },
  userId: STRING,
  userName: STRING,
  createdAt: DATE_TIME,
  lastUsedAt: nullable(DATE_TIME),
  revokedAt: nullable(DATE_TIME),
  expiresAt: nullable(DATE_TIME),
  allowedModels: described(nullable(arrayOf(STRING)), 'Null: every model.'),
  rpm: nullable(INTEGER),
  tpm: nullable(INTEGER),
};

const CREATED_API_KEY = described(
  object({ ...API_KEY_FIELDS, key: STRING }),
  'The key once, with its record: it is stored hashed and never shown again.',
);

/** A user's own limits (null: the tier's applies) and the limits in force (null: unlimited). */
const QUOTA_FIELDS: Record<string, Schema> = {
  userId: STRING,
  tier: STRING,
  dailyRequestLimit: nullable(INTEGER),
  monthlyRequestLimit: nullable(INTEGER),
  dailySpendLimitUsd: LIMIT,
  monthlySpendLimitUsd: LIMIT,
  effective: described(
    object({
      userRpm: nullable(INTEGER),
      userTpm: nullable(INTEGER),
      dailyRequestLimit: nullable(INTEGER),
      monthlyRequestLimit: nullable(INTEGER),
      dailySpendLimitUsd: LIMIT,
      monthlySpendLimitUsd: LIMIT,
    }),
    'What applies after the tier is consulted; null: unlimited.',
  ),
  dailyResetAt: described(nullable(DATE_TIME), 'The last reset of the counters by an admin.'),
  monthlyResetAt: nullable(DATE_TIME),
};

const QUOTA_USAGE_FIELDS: Record<string, Schema> = {
  ...QUOTA_FIELDS,
  dailyRequests: INTEGER,
  monthlyRequests: INTEGER,
  dailySpendUsd: NUMBER,
  monthlySpendUsd: NUMBER,
  resetsAt: object({ daily: DATE_TIME, monthly: DATE_TIME }),
};

/** The figures of one group of the analytics routes, or of all (UsageFigures). */
const USAGE_FIGURES: Record<string, Schema> = {
  requests: described(INTEGER, 'Client requests, each counted once, where it ended.'),
  successes: INTEGER,
  failures: described(INTEGER, 'Requests that ended in an error (those their client left are not).'),
  clientClosed: described(
    INTEGER,
    'Requests their client left before the answer ended (`client_closed_request`): neither successes nor failures.',
  ),
  promptTokens: INTEGER,
  completionTokens: INTEGER,
  cachedTokens: INTEGER,
  costUsd: NUMBER,
  costSavedUsd: NUMBER,
  cacheHits: INTEGER,
  avgLatencyMs: described(nullable(INTEGER), 'Null without requests.'),
  p95LatencyMs: nullable(NUMBER),
  failedAttempts: described(INTEGER, "Provider attempts that failed before their request's last one."),
};

const ADMIN_USAGE_REPORT = object({
  from: DATE_TIME,
  to: DATE_TIME,
  groupBy: { type: 'string', enum: [...ADMIN_USAGE_GROUP_BYS] },
  page: INTEGER,
  limit: INTEGER,
  totalGroups: INTEGER,
  totals: object(USAGE_FIGURES),
  groups: arrayOf(
    object({
      key: described(nullable(STRING), 'The provider, model, user id, UTC day or hour; null when none answered.'),
      ...USAGE_FIGURES,
    }),
  ),
});

const COST_REPORT = object({
  from: DATE_TIME,
  to: DATE_TIME,
  by: { type: 'string', enum: [...COST_GROUP_BYS] },
  totalUsd: NUMBER,
  totalSavedUsd: NUMBER,
  groups: arrayOf(
    object({
      key: nullable(STRING),
      costUsd: NUMBER,
      costSavedUsd: NUMBER,
      requests: INTEGER,
      promptTokens: INTEGER,
      completionTokens: INTEGER,
    }),
  ),
  projection: object({
    monthEndUsd: NUMBER,
    dailyRateUsd: NUMBER,
    monthToDateUsd: NUMBER,
    daysLeft: described(NUMBER, 'Fractional: the rest of today counts.'),
    basis: STRING,
  }),
});

const GATEWAY_METRICS = object({
  from: DATE_TIME,
  to: DATE_TIME,
  requests: INTEGER,
  successes: INTEGER,
  failures: INTEGER,
  clientClosed: INTEGER,
  successRate: described(
    nullable(NUMBER),
    '0..1, of the requests that ended (successes and failures: not those their client left); null without any.',
  ),
  tokens: object({ prompt: INTEGER, completion: INTEGER, cached: INTEGER, total: INTEGER }),
  costUsd: NUMBER,
  costSavedUsd: NUMBER,
  latency: object({
    avgMs: nullable(NUMBER),
    p50Ms: nullable(NUMBER),
    p95Ms: nullable(NUMBER),
    p99Ms: nullable(NUMBER),
  }),
  cache: object({ hits: INTEGER, misses: INTEGER, hitRate: nullable(NUMBER) }),
  providers: arrayOf(object({ provider: nullable(STRING), ...USAGE_FIGURES, successRate: nullable(NUMBER) })),
  series: object({
    interval: { type: 'string', enum: ['hour', 'day'] },
    points: arrayOf(
      object({
        t: DATE_TIME,
        requests: INTEGER,
        failures: INTEGER,
        cacheHits: INTEGER,
        tokens: INTEGER,
        costUsd: NUMBER,
        avgLatencyMs: nullable(NUMBER),
        p95LatencyMs: nullable(NUMBER),
      }),
    ),
  }),
});

const CACHE_STATS = object({
  hits: INTEGER,
  misses: INTEGER,
  bypasses: INTEGER,
  stale: INTEGER,
  hitRate: described(nullable(NUMBER), 'hits / (hits + misses); null before any lookup.'),
  entries: INTEGER,
  bytes: INTEGER,
  enabledByDefault: described(BOOLEAN, 'CACHE_ENABLED: a model without its own catalog setting is cached.'),
  enabledDeployments: described(
    arrayOf(STRING),
    'The deployments (`provider/model`, sorted) whose answers are cached.',
  ),
});

const DISCOVERED_MODEL = object({ name: STRING, capabilities: CAPABILITIES, firstSeenAt: DATE_TIME });
const CATALOG_MODEL = object({ name: STRING, upstreamName: STRING, enabled: BOOLEAN, capabilities: CAPABILITIES });

const PROVIDER_MODELS = object({
  providerId: STRING,
  refreshedAt: described(nullable(DATE_TIME), "When the monitor last read the provider's model list; null: never."),
  served: arrayOf(DISCOVERED_MODEL),
  catalog: arrayOf(CATALOG_MODEL),
  notInCatalog: described(arrayOf(DISCOVERED_MODEL), 'Served, but no catalog model goes by that name.'),
  noLongerServed: described(arrayOf(CATALOG_MODEL), 'In the catalog, but no longer served.'),
});

/** A page of an admin list (ListPage). */
const page = (item: string): SchemaObject =>
  object({
    data: arrayOf(ref(item)),
    nextCursor: described(nullable(STRING), 'Pass as `cursor` for the next page; null on the last.'),
  });

const enumOf = (values: readonly string[]): SchemaObject => ({ type: 'string', enum: [...values] });
const ROUTE = enumOf(['direct', 'gateway']);
const CIRCUIT_STATE = enumOf(CIRCUIT_STATES);
const SOURCE = described(
  nullable(enumOf(['file', 'admin'])),
  'Where it was configured: the catalog file, or the admin API.',
);

/** A model as the catalog file writes it (MODEL_KEYS; defaults spelled out, optional settings only when set). */
/** A provider's or a model's `displayName`: the catalog reader refuses a longer one (400 naming it). */
const DISPLAY_NAME: SchemaObject = { type: 'string', maxLength: MAX_DISPLAY_NAME };

export const CATALOG_MODEL_FIELDS: Record<string, Schema> = {
  name: STRING,
  upstreamName: STRING,
  displayName: DISPLAY_NAME,
  description: { type: 'string', maxLength: MAX_MODEL_DESCRIPTION },
  promptPer1k: NUMBER,
  completionPer1k: NUMBER,
  cachedPromptPer1k: NUMBER,
  cacheWritePer1k: NUMBER,
  contextWindow: INTEGER,
  capabilities: CAPABILITIES,
  quality: NUMBER,
  recommended: BOOLEAN,
  enabled: BOOLEAN,
  cache: object({ enabled: BOOLEAN, ttlS: INTEGER, staleTtlS: INTEGER }, ['enabled', 'ttlS', 'staleTtlS']),
};
export const CATALOG_MODEL_OPTIONAL = [
  'upstreamName',
  'displayName',
  'description',
  'cachedPromptPer1k',
  'cacheWritePer1k',
  'quality',
  'recommended',
  'cache',
];

/** A provider's settings as the catalog file writes them, but its key and models (PROVIDER_KEYS). */
export const CATALOG_PROVIDER_FIELDS: Record<string, Schema> = {
  id: STRING,
  displayName: DISPLAY_NAME,
  kind: enumOf(PROVIDER_KINDS),
  baseUrl: STRING,
  enabled: BOOLEAN,
  timeoutMs: INTEGER,
  maxConnections: INTEGER,
  routing: enumOf(ROUTING_METHODS),
  plugin: STRING,
  healthPath: STRING,
  probe: enumOf(PROBE_MODES),
  healthIntervalS: INTEGER,
  maxEmbeddingInputs: described(
    INTEGER,
    'Most inputs one embeddings request to this provider carries (1..2048); a longer list is split. Absent: the ' +
      "default of the provider's family.",
  ),
};
export const CATALOG_PROVIDER_OPTIONAL = [
  'displayName',
  'plugin',
  'healthPath',
  'probe',
  'healthIntervalS',
  'maxEmbeddingInputs',
];
const API_KEY_REFERENCE = described(STRING, 'The `${VAR}` reference the key was configured with; never a literal key.');

/** A model as the admin API shows it (ModelView): `provider/model` and its catalog settings. */
const MODEL_VIEW = object(
  { id: described(STRING, '`provider/model`.'), ...CATALOG_MODEL_FIELDS },
  CATALOG_MODEL_OPTIONAL,
);

/** A provider as the admin API shows it (ProviderView): never its key, only whether it has one. */
const PROVIDER_VIEW_FIELDS: Record<string, Schema> = {
  ...CATALOG_PROVIDER_FIELDS,
  gatewayId: described(nullable(STRING), 'The gateway it routes through (`gateway` and `auto`).'),
  hasApiKey: BOOLEAN,
  apiKeyRef: described(nullable(STRING), 'The `${VAR}` the key is read from; null for a literal key or none.'),
  source: SOURCE,
  models: arrayOf(ref('AdminModel')),
};

const PROVIDER_LIST_ITEM = object(
  {
    ...PROVIDER_VIEW_FIELDS,
    health: object({
      status: enumOf(PROVIDER_HEALTH_STATUSES),
      consecutiveFailures: INTEGER,
      lastCheckAt: nullable(DATE_TIME),
      lastError: nullable(STRING),
      unservedModels: described(
        arrayOf(STRING),
        "Its models (catalog names) whose upstream name its own model list lacked at the monitor's last probe " +
          '(`lastCheckAt`): routing tries them after the other deployments, `GET /api/v1/ai/models` says ' +
          '`model_unserved`. Empty when none, or once that verdict no longer holds (settings changed since, or no ' +
          'monitor confirms it).',
      ),
    }),
    circuit: described(nullable(CIRCUIT_STATE), 'The worst state among its deployments; null without models.'),
    circuits: arrayOf(
      object({
        id: STRING,
        state: CIRCUIT_STATE,
        cooldownUntil: described(
          nullable(DATE_TIME),
          'While the wait its provider asked for (429, 503 or 529 with Retry-After) runs: when it ends. No worker ' +
            'calls the deployment meanwhile, whatever `state` says; the circuit reset clears it.',
        ),
      }),
    ),
    routeInUse: ROUTE,
    usage24h: object({ requests: INTEGER, failures: INTEGER, cacheHits: INTEGER, costUsd: NUMBER }),
    quota: described(
      { anyOf: [ref('ProviderQuotaDto'), { type: 'object', nullable: true, enum: [null] }] },
      'Its rate limits as its responses last reported them; null when none carried any.',
    ),
  },
  CATALOG_PROVIDER_OPTIONAL,
);

const PROVIDER_TEMPLATES = object({
  data: arrayOf(
    object({
      name: STRING,
      description: STRING,
      apiKeyEnv: described(nullable(STRING), 'The variable its key is read from; null: no key.'),
      settings: described(
        { type: 'object', additionalProperties: true },
        'Catalog fields of the provider (and its models) the template fills in.',
      ),
    }),
  ),
  kinds: described(arrayOf(enumOf(PROVIDER_KINDS)), 'The kinds a provider from scratch may have.'),
});

const PROVIDER_HEALTH_HISTORY = object({
  providerId: STRING,
  from: DATE_TIME,
  to: DATE_TIME,
  uptime: described(nullable(NUMBER), 'Share of the probes in which a route worked, 0..1; null without a probe.'),
  probes: INTEGER,
  checks: described(
    arrayOf(
      object(
        {
          at: DATE_TIME,
          route: enumOf(HEALTH_ROUTES),
          ok: BOOLEAN,
          latencyMs: nullable(NUMBER),
          status: described(INTEGER, "The provider's HTTP status, when it answered."),
          errorClass: STRING,
          message: STRING,
        },
        ['status', 'errorClass', 'message'],
      ),
    ),
    'Newest first, at most `limit`.',
  ),
});

const CONNECTION_TEST = object(
  {
    providerId: described(nullable(STRING), 'Null for settings not saved.'),
    routes: arrayOf(
      object(
        {
          route: ROUTE,
          ok: BOOLEAN,
          latencyMs: NUMBER,
          status: described(INTEGER, 'The HTTP status, when an answer came back.'),
          models: described(arrayOf(STRING), 'The models the route serves, when the probe read its model list.'),
          diagnosis: described(
            object({ code: enumOf(DIAGNOSIS_CODES), message: STRING, suggestion: STRING }),
            "Why the route fails and what to change; on a working route, the provider's models its model list lacks (not_found: pull them, or check the names).",
          ),
        },
        ['status', 'models', 'diagnosis'],
      ),
    ),
    suggestion: described(
      object({
        code: constant('use_gateway'),
        message: STRING,
        yaml: STRING,
        patch: object({ routing: constant('gateway'), gatewayId: STRING }),
      }),
      'When only the gateway works: the catalog change that moves the provider onto it.',
    ),
  },
  ['suggestion'],
);

const CIRCUIT_RESET = object({
  provider: STRING,
  deployments: arrayOf(
    object(
      {
        id: STRING,
        previousState: CIRCUIT_STATE,
        state: CIRCUIT_STATE,
        endedCooldown: object({ remainingMs: INTEGER, status: INTEGER }),
      },
      ['endedCooldown'],
    ),
  ),
});

const WARM_REPORT = object({
  requested: INTEGER,
  warmed: INTEGER,
  alreadyCached: INTEGER,
  skipped: described(INTEGER, 'Requests answered whose answer the cache does not hold (see `reason`).'),
  failed: INTEGER,
  results: described(
    arrayOf(
      object(
        {
          status: described(
            enumOf(['warmed', 'already_cached', 'skipped', 'failed']),
            '`warmed`: its answer is in the cache now; `already_cached`: not run; `skipped`: answered, not stored; ' +
              '`failed`: no answer (or none within the 60 s wait).',
          ),
          reason: described(
            enumOf(WARM_SKIP_REASONS),
            'Why a `skipped` answer is not in the cache: a content filter cut it short, the model that answered has its ' +
              'cache off, it is over CACHE_MAX_ENTRY_BYTES, the write did not land (the cache Redis refused it), or the ' +
              "cache's Redis could not be asked.",
          ),
          error: described(STRING, 'Why it failed (an error code).'),
        },
        ['reason', 'error'],
      ),
    ),
    'Per request, in order.',
  ),
});

const GATEWAY_VIEW = object({
  id: STRING,
  baseUrl: STRING,
  timeoutMs: INTEGER,
  hasApiKey: BOOLEAN,
  apiKeyRef: described(nullable(STRING), 'The `${VAR}` the key is read from; null for a literal key or none.'),
  source: SOURCE,
});

/** The configuration as a file (the PROVIDERS_FILE format): keys only as `${VAR}` references. */
const CATALOG_DOCUMENT = object({
  gateways: arrayOf(object({ id: STRING, baseUrl: STRING, apiKey: API_KEY_REFERENCE, timeoutMs: INTEGER }, ['apiKey'])),
  providers: arrayOf(
    object(
      {
        ...CATALOG_PROVIDER_FIELDS,
        apiKey: API_KEY_REFERENCE,
        gateway: STRING,
        models: arrayOf(object(CATALOG_MODEL_FIELDS, CATALOG_MODEL_OPTIONAL)),
      },
      [...CATALOG_PROVIDER_OPTIONAL, 'apiKey', 'gateway'],
    ),
  ),
});

const ENTITY_CHANGES = object({
  added: arrayOf(STRING),
  changed: arrayOf(
    object({
      id: STRING,
      fields: described(
        { type: 'object', additionalProperties: object({ from: ANY_JSON, to: ANY_JSON }) },
        'Per changed field, its value before and after (absent: null).',
      ),
    }),
  ),
  removed: arrayOf(STRING),
});

const IMPORT_RESULT = object({
  dryRun: BOOLEAN,
  applied: described(BOOLEAN, 'False on a dry run.'),
  changes: object({ gateways: ENTITY_CHANGES, providers: ENTITY_CHANGES, models: ENTITY_CHANGES }),
});

/** The response components, by name (referred to as `#/components/schemas/<name>`). */
export const RESPONSE_SCHEMAS: Readonly<Record<string, SchemaObject>> = {
  ErrorEnvelope: ERROR_ENVELOPE,
  ErrorBody: ERROR_BODY,
  AnthropicErrorEnvelope: ANTHROPIC_ERROR_ENVELOPE,
  Attempt: ATTEMPT,
  ToolCall: TOOL_CALL,
  ThinkingBlock: THINKING_BLOCK,
  ChatCompletionUsage: OPENAI_USAGE,
  ChatCompletion: CHAT_COMPLETION,
  ChatCompletionChunk: CHAT_COMPLETION_CHUNK,
  AnthropicMessage: ANTHROPIC_MESSAGE,
  AnthropicTokenCount: object({ input_tokens: INTEGER }),
  EmbeddingList: EMBEDDING_LIST,
  Model: OPENAI_MODEL,
  ModelList: object({ object: constant('list'), data: arrayOf(ref('Model')) }),
  AnthropicModel: ANTHROPIC_MODEL,
  AnthropicModelPage: ANTHROPIC_MODEL_PAGE,
  Usage: USAGE,
  GenerateResponse: GENERATE_RESPONSE,
  JobAccepted: JOB_ACCEPTED,
  JobStatus: JOB_STATUS,
  ModelListItem: MODEL_LIST_ITEM,
  ModelListing: object({ object: constant('list'), data: arrayOf(ref('ModelListItem')) }),
  Preference: PREFERENCE,
  PreferenceList: object({ data: arrayOf(ref('Preference')) }),
  PreferenceDeleted: object({ context: STRING, deleted: constant(true) }),
  UsageReport: USAGE_REPORT,
  User: USER,
  ApiKey: object(API_KEY_FIELDS),
  CreatedApiKey: CREATED_API_KEY,
  Quota: described(object(QUOTA_FIELDS), 'The quota as stored: its limits and the ones in force.'),
  AdminUsageReport: ADMIN_USAGE_REPORT,
  CacheStats: CACHE_STATS,
  CacheDeleted: object({ deleted: described(INTEGER, 'Entries deleted.') }),
  ProviderModels: PROVIDER_MODELS,
  CostReport: COST_REPORT,
  GatewayMetrics: GATEWAY_METRICS,
  QuotaUsage: described(object(QUOTA_USAGE_FIELDS), 'The quota with what is used of it in the current day and month.'),
  UserPage: page('User'),
  ApiKeyPage: page('ApiKey'),
  AdminModel: MODEL_VIEW,
  AdminProvider: described(
    object(PROVIDER_VIEW_FIELDS, CATALOG_PROVIDER_OPTIONAL),
    "A provider's settings as the catalog file has them, never its key (`hasApiKey`, `apiKeyRef`).",
  ),
  AdminProviderListItem: PROVIDER_LIST_ITEM,
  AdminProviderList: object({ data: arrayOf(ref('AdminProviderListItem')) }),
  ProviderTemplates: PROVIDER_TEMPLATES,
  ProviderHealthHistory: PROVIDER_HEALTH_HISTORY,
  ConnectionTestResult: CONNECTION_TEST,
  CircuitReset: CIRCUIT_RESET,
  CacheWarmReport: WARM_REPORT,
  AdminGateway: described(GATEWAY_VIEW, 'A gateway, never its key (`hasApiKey`, `apiKeyRef`).'),
  AdminGatewayList: object({ data: arrayOf(ref('AdminGateway')) }),
  CatalogDocument: CATALOG_DOCUMENT,
  ConfigImportResult: IMPORT_RESULT,
};
