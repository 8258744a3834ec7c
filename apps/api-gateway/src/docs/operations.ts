import type {
  ParameterObject,
  ReferenceObject,
  RequestBodyObject,
  ResponseObject,
  SchemaObject,
} from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { ANSWER_HEADERS, GENERATION_REQUEST_HEADERS, headerRefs, jsonAnswer } from './headers';
import { jsonBody } from './request-schemas';

/**
 * Summaries, descriptions, examples and bodies of the operations in the OpenAPI document, by `METHOD /path` (OpenAPI
 * path syntax). An operation missing here still appears, with a summary made from its handler's name; the
 * docs test lists the ones that lack an entry.
 */
export interface OperationDoc {
  summary: string;
  description?: string;
  tag?: string;
  requestExample?: unknown;
  /**
   * The request body of a handler that reads a plain object (no DTO the scanner could describe), e.g. a catalog
   * document's fields. A DTO's body comes from its validation rules instead.
   */
  requestBody?: RequestBodyObject;
  /**
   * Query parameters: the name of the DTO class the handler validates them with (its schema's properties become the
   * parameters, so they cannot drift from the rules), or the parameters of a handler that reads them one by one.
   */
  query?: string | readonly QueryParam[];
  /** Success responses with a body the DTOs do not describe, by status (error statuses are added for every route). */
  responses?: Record<string, ResponseObject>;
  /** Request headers the route reads (`#/components/parameters/...`). */
  headers?: readonly (ParameterObject | ReferenceObject)[];
}

export interface QueryParam {
  name: string;
  description: string;
  schema: SchemaObject;
}

/** `/health/live` and `/health/ready` answer Terminus's result with 200 and 503 alike (`HealthCheckResult`). */
const HEALTH_RESPONSES: Record<string, ResponseObject> = {
  '200': {
    description: 'Every check passed.',
    content: { 'application/json': { schema: { $ref: '#/components/schemas/HealthCheckResult' } } },
  },
  '503': {
    description: 'A check failed (`error` says which), or the process is shutting down.',
    content: { 'application/json': { schema: { $ref: '#/components/schemas/HealthCheckResult' } } },
  },
};

/** A generation's answer: JSON, or with `stream: true` server-sent events described in words. */
function generationAnswer(description: string, schema: string, stream?: string): Record<string, ResponseObject> {
  const ok = jsonAnswer(description, schema, ...ANSWER_HEADERS);
  if (stream !== undefined) {
    ok.content!['text/event-stream'] = { schema: { type: 'string', description: stream } };
  }
  return { '200': ok };
}

const PAGE_DESCRIPTION =
  '`{data, nextCursor}`: at most `limit` items (default 100, at most 1000); pass `nextCursor` as `cursor` (with the ' +
  'same `order`: a cursor of the other order is a 400 naming `cursor`) for the next page, null on the last. Oldest ' +
  'first; `order=desc`: newest first. A page is stable under inserts: new items come after the last page (oldest ' +
  'first) or before the first (newest first).';

/** The costs as JSON (the default), or with `format=csv` their groups as a download. */
function costsAnswer(): ResponseObject {
  const ok = jsonAnswer('The costs (`format=json`, the default), or the groups as a CSV download.', 'CostReport');
  ok.content!['text/csv'] = {
    schema: {
      type: 'string',
      description:
        'A header line `<by>,costUsd,costSavedUsd,requests,promptTokens,completionTokens`, then one line per group ' +
        '(`Content-Disposition: attachment`).',
    },
  };
  return ok;
}

/** The configuration as a download: YAML (the default) or JSON, the same document. */
function configExport(): ResponseObject {
  const ok = jsonAnswer(
    'The configuration (`format=json`), as a download (`Content-Disposition: attachment`).',
    'CatalogDocument',
  );
  ok.content!['application/yaml'] = {
    schema: {
      type: 'string',
      description: 'The same document as YAML (`format=yaml`, the default): a PROVIDERS_FILE.',
    },
  };
  return ok;
}

const CHAT_EXAMPLE = {
  model: 'gpt-4o-mini',
  messages: [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Say hello' },
  ],
  stream: false,
};

export const OPERATION_DOCS: Readonly<Record<string, OperationDoc>> = {
  'GET /metrics': {
    summary: 'Prometheus metrics of the process (text exposition format)',
    responses: {
      '200': {
        description: 'The metrics, in the Prometheus text exposition format 0.0.4.',
        content: { 'text/plain': { schema: { type: 'string', description: '`# HELP`, `# TYPE` and sample lines.' } } },
      },
    },
  },
  'GET /health/live': {
    summary: 'Liveness: the process answers (never depends on Redis or PostgreSQL)',
    responses: HEALTH_RESPONSES,
  },
  'GET /health/ready': {
    summary: 'Readiness: Redis, PostgreSQL and the other dependencies of the api-gateway answer',
    responses: HEALTH_RESPONSES,
  },
  'POST /v1/chat/completions': {
    summary: 'Create a chat completion (OpenAI wire format)',
    description:
      'The OpenAI Chat Completions API: tools, content parts, JSON mode, `stream: true` for SSE. The gateway picks ' +
      'a deployment of `model` by policy, retries and falls back. Headers: `x-gateway-provider`, `x-gateway-model`, ' +
      '`x-gateway-cache` (hit, miss, bypass, stale), rate-limit headers for limited keys. `Idempotency-Key` makes a ' +
      'retried request return the first answer. `x-gateway-cache: no-cache|no-store` or `Cache-Control` steer the cache.',
    requestExample: CHAT_EXAMPLE,
    headers: GENERATION_REQUEST_HEADERS,
    responses: generationAnswer(
      'The chat completion (`stream` false), or its events (`stream: true`).',
      'ChatCompletion',
      'Events `data: <ChatCompletionChunk>` (the first announces the role, the last before `[DONE]` has the ' +
        '`finish_reason`, then a usage chunk when `stream_options.include_usage`), ending with `data: [DONE]`; a ' +
        'failure after the stream began is an event `data: {"error": <ErrorBody>}`. While the provider is quiet, a ' +
        '`: keep-alive` comment every `SSE_KEEPALIVE_MS`. No `x-gateway-cost-usd` header: the cost is in the usage.',
    ),
  },
  'POST /v1/messages': {
    summary: 'Create a message (Anthropic wire format)',
    description:
      "The Anthropic Messages API, served by any provider family; `stream: true` gives Anthropic's SSE events.",
    requestExample: { model: 'claude-3-5-haiku', max_tokens: 256, messages: [{ role: 'user', content: 'Say hello' }] },
    headers: GENERATION_REQUEST_HEADERS,
    responses: generationAnswer(
      'The message (`stream` false), or its events (`stream: true`).',
      'AnthropicMessage',
      "Anthropic's events, each `event: <type>` and `data: <JSON>`: `message_start`, `ping`, " +
        '`content_block_start`/`content_block_delta`/`content_block_stop`, `message_delta` (`stop_reason`, usage), ' +
        '`message_stop`; a failure after the stream began is an `error` event (`AnthropicErrorEnvelope`). While the ' +
        'provider is quiet, a `ping` event every `SSE_KEEPALIVE_MS`.',
    ),
  },
  'POST /v1/messages/count_tokens': {
    summary: "Count a message's input tokens (Anthropic wire format)",
    description:
      "The gateway's routing estimate (cl100k, tools included; PDFs by their size): an estimate for Claude. Nothing " +
      'is queued, no provider is called and no rate limit is charged.',
    requestExample: { model: 'claude-3-5-haiku', messages: [{ role: 'user', content: 'Say hello' }] },
    responses: { '200': jsonAnswer('The count.', 'AnthropicTokenCount') },
  },
  'POST /v1/embeddings': {
    summary: 'Create embeddings (OpenAI wire format)',
    requestExample: { model: 'text-embedding-3-small', input: ['first text', 'second text'] },
    headers: GENERATION_REQUEST_HEADERS,
    responses: generationAnswer('One vector per input, in input order.', 'EmbeddingList'),
  },
  'GET /v1/models': {
    summary: 'List models (OpenAI wire format)',
    description:
      "With an `anthropic-version` header (Anthropic's SDKs send it), Anthropic's Models API instead: " +
      '`{data: [{type: "model", id, display_name, created_at}], has_more, first_id, last_id}`, paged by `limit` ' +
      "(default 20, 1 to 1000), `after_id` or `before_id`, errors in Anthropic's shape.",
    // Read only with `anthropic-version` (the OpenAI list is not paged): Anthropic's SDKs follow these cursors.
    query: [
      {
        name: 'limit',
        description: 'With `anthropic-version`: entries per page, 1 to 1000 (default 20).',
        schema: { type: 'integer', minimum: 1, maximum: 1000 },
      },
      {
        name: 'after_id',
        description: "With `anthropic-version`: the page after this id (a page's `last_id`); 400 for an id not listed.",
        schema: { type: 'string' },
      },
      {
        name: 'before_id',
        description: "With `anthropic-version`: the page before this id (a page's `first_id`); not with `after_id`.",
        schema: { type: 'string' },
      },
    ],
    headers: [
      {
        name: 'anthropic-version',
        in: 'header',
        required: false,
        description: "Anthropic's SDKs send it: the answer is then Anthropic's Models API page.",
        schema: { type: 'string' },
      },
    ],
    responses: {
      '200': jsonAnswer(
        'Every enabled deployment (`provider/model`), then every model name they serve; for a key restricted by ' +
          '`allowedModels`, only those it may use. With `anthropic-version`: an `AnthropicModelPage` of them instead.',
        'ModelList',
      ),
    },
  },
  'GET /v1/models/{id}': {
    summary: 'Retrieve a model (OpenAI wire format)',
    description:
      'One entry of `GET /v1/models`; the id may hold a slash, sent plainly or encoded (`sim%2Fsim-gpt`). ' +
      "`404 model_not_found` for an id not listed, one the key's `allowedModels` exclude included (as for OpenAI, " +
      'what a key may not see does not exist for it). With an `anthropic-version` header, ' +
      'Anthropic\'s `{type: "model", id, display_name, created_at}`.',
    responses: { '200': jsonAnswer('The model (with `anthropic-version`: an `AnthropicModel`).', 'Model') },
  },
  'POST /api/v1/ai/generate': {
    summary: 'Generate (native API)',
    description:
      'A simpler request shape: `prompt` or `messages`, `model` or a routing `policy`, `context` for preferences, ' +
      '`useCache`. The answer says which provider and model answered, the route, attempts, tokens, cost and `cached`.',
    requestExample: { prompt: 'Say hello', policy: 'cost', options: { maxTokens: 64 } },
    headers: GENERATION_REQUEST_HEADERS,
    responses: generationAnswer('The answer, with where it came from and what it cost.', 'GenerateResponse'),
  },
  'POST /api/v1/ai/jobs': {
    summary: 'Submit a generation job (asynchronous)',
    description: 'Answers 202 with the job id at once; poll `GET /api/v1/ai/jobs/{id}` for the result.',
    requestExample: { prompt: 'Write a haiku about queues', model: 'gpt-4o-mini' },
    headers: GENERATION_REQUEST_HEADERS,
    responses: {
      '202': jsonAnswer(
        'Accepted: the job is queued. A replay with the same `Idempotency-Key` answers the job it found, in its state ' +
          '(`running`, `completed`, ...), with `x-gateway-idempotent-replay: true`.',
        'JobAccepted',
        'Location',
        'x-gateway-idempotent-replay',
      ),
    },
  },
  'GET /api/v1/ai/jobs/{id}': {
    summary: 'Read a generation job: state and, once done, its result',
    description:
      'A job is read by the API key that submitted it (an admin key: any job): 404 for any other key, the same ' +
      "user's included, and for a job no longer kept: a finished job (its result, or its generation's error) is kept " +
      "`ASYNC_JOB_RETENTION_S` (default 86400 s) after it finished; one that failed in the queue (every attempt's " +
      'worker crashed: `The generation failed after N attempts`) 86400 s after it failed, whatever ' +
      '`ASYNC_JOB_RETENTION_S` is. The 404 of an expired job says so to its owner while Redis still holds it; past ' +
      'that the id reads as unknown.',
    responses: {
      '200': jsonAnswer('The job: `result` once `completed`, `error` once `failed`.', 'JobStatus'),
    },
  },
  'POST /api/v1/ai/jobs/{id}/cancel': {
    summary: 'Cancel a generation job',
    description:
      'By the key that submitted it (an admin key: any job); 404 as `GET` answers it. A queued job is ' +
      'removed from the queue, never calls a provider, and what admission reserved for it is given back; a running ' +
      "one is asked to stop: its worker aborts it, and what was generated is billed. Answers the job's state: " +
      '`cancelled`, or `running` when its worker did not stop it within 3 s: the stop was requested, not confirmed ' +
      '(read the job again, or cancel again to repeat the request; an answer that comes first stays `completed`). ' +
      'Cancelling a cancelled job answers the same state; a job already `completed` or ' +
      "`failed` (or one a waiting request of the caller's owns: close that request) is a 409 `conflict`.",
    responses: {
      '200': jsonAnswer(
        'The job after the cancel: `cancelled`, or `running`: its stop was requested, not yet confirmed.',
        'JobStatus',
      ),
    },
  },
  'GET /api/v1/ai/models': {
    summary: 'List deployments with prices, capabilities, health and availability',
    description:
      'Every deployment (a key restricted by `allowedModels`: those it may use): `id` (`provider/model`), display ' +
      'name, description, capabilities, context window, ' +
      "`pricing`, `avgLatencyMs` and `successRate` over the last 24 h, the monitor's `health`, `available` " +
      '(enabled, circuit not open, health not failing) and `recommended` (the catalog flag, else the best quality ' +
      'per price among healthy available chat deployments). `ETag` / `If-None-Match` (304) and `Cache-Control`; ' +
      'open without a key when MODELS_PUBLIC=true (then only enabled deployments are listed to a caller without one).',
    headers: [
      {
        name: 'If-None-Match',
        in: 'header',
        required: false,
        description: 'The `ETag` of a listing this client holds: a `304` without a body while it is current.',
        schema: { type: 'string' },
      },
    ],
    responses: {
      '200': jsonAnswer(
        'Every deployment, enabled or not (without a key: the enabled ones).',
        'ModelListing',
        'ETag',
        'Cache-Control',
      ),
      '304': { description: 'Not modified: the `If-None-Match` tag is current.', headers: headerRefs('ETag') },
    },
  },
  'GET /api/v1/ai/preferences': {
    summary: "The caller's model preferences with their usage",
    description:
      'One per context (`""` is the default), with display names, `usageCount` / `lastUsedAt` (uses by the ' +
      '`preference` routing policy) and the last 30 days of requests and cost on that deployment. A key ' +
      'restricted by `allowedModels` is shown only the preferences naming a deployment its list allows.',
    responses: { '200': jsonAnswer("The caller's preferences.", 'PreferenceList') },
  },
  'PUT /api/v1/ai/preferences': {
    summary: 'Set the preferred deployment for a context (or the default)',
    description:
      'A key restricted by `allowedModels` may name only a deployment its list allows (403 `model_not_allowed` ' +
      'otherwise, whether it exists or not). The provider and model must exist (400 `invalid_request` otherwise) and ' +
      'be enabled and available now (409 `model_unavailable` otherwise), the error naming `provider` or `model`. One ' +
      'preference per context: a second PUT replaces the first. `context` left out or `""` sets the default.',
    requestExample: { context: 'coding', provider: 'openai', model: 'gpt-4o-mini' },
    responses: { '200': jsonAnswer('The stored preference.', 'Preference') },
  },
  'DELETE /api/v1/ai/preferences': {
    summary: 'Remove the default preference (404 when there is none, or the key may not see it)',
    responses: { '200': jsonAnswer('Removed.', 'PreferenceDeleted') },
  },
  'DELETE /api/v1/ai/preferences/{context}': {
    summary: 'Remove the preference of a context (404 when there is none, or the key may not see it)',
    responses: { '200': jsonAnswer('Removed.', 'PreferenceDeleted') },
  },
  'GET /api/v1/ai/usage': {
    summary: "The caller's own usage, cost and remaining quota",
    description:
      '`[from, to)`, default the last 30 days, at most 366; groups by UTC `day` (default), `model` or `provider`. A ' +
      'key restricted by `allowedModels` is shown its usage of the deployments its list allows only (groups and ' +
      "totals; the quota is the user's whole). A limit, and what remains of it, is null when there is none.",
    query: 'UsageQueryDto',
    responses: { '200': jsonAnswer('Totals, groups and the quota.', 'UsageReport') },
  },
  'GET /api/v1/ai/admin/usage': {
    query: 'AdminUsageQueryDto',
    summary: 'Usage analytics: requests, outcomes, tokens, cost, cache hits, average and p95 latency per group',
    description:
      '`groupBy` provider, model, user, day (default) or hour (ranges up to 31 days); `from`/`to` ISO dates (default ' +
      'the last 30 days, at most 400); `page`/`limit` (default 1/100, limit at most 1000) page the groups, `totals` ' +
      'cover all of them. Answered from the hourly and daily usage rollups, exact for any range. `requests` counts ' +
      'client requests once, where they ended; `failures` those that ended in an error, `clientClosed` those their ' +
      'client left (neither successes nor failures); `failedAttempts` the provider attempts that failed before a ' +
      "request's last one (a fallback), under the provider and model they failed on.",
    responses: { '200': jsonAnswer('A page of groups and the totals of all.', 'AdminUsageReport') },
  },
  'GET /api/v1/ai/admin/costs': {
    query: 'CostsQueryDto',
    summary: 'Costs by provider, user or day, with a month-end projection; `format=csv` downloads the groups',
    description:
      '`projection.monthEndUsd` = cost of the month so far + `dailyRateUsd` (the average of the last 7 full UTC ' +
      'days) × the days left in the month.',
    responses: { '200': costsAnswer() },
  },
  'GET /api/v1/ai/metrics': {
    query: 'RangeQueryDto',
    summary: 'Gateway statistics for charts: totals, success rate, cache hits, latency percentiles, providers, series',
    description:
      'Default range the last 24 h; `series.points` are `{t, requests, failures, cacheHits, tokens, costUsd, ' +
      'avgLatencyMs, p95LatencyMs}` per hour (per day past 7 days), zeros where nothing happened.',
    responses: { '200': jsonAnswer('The statistics of the range.', 'GatewayMetrics') },
  },
  'POST /api/v1/ai/admin/users': {
    summary: 'Create a user',
    requestExample: { name: 'alice', tier: 'pro' },
    responses: { '201': jsonAnswer('The user.', 'User') },
  },
  'GET /api/v1/ai/admin/users': {
    summary: 'List users, oldest (or newest) first, a page at a time; `q` finds them by the start of their name',
    query: 'UserListQueryDto',
    description:
      `${PAGE_DESCRIPTION} \`q\`: only the users whose name starts with it, in any case (a picker asks ` +
      '`?q=ali&limit=20` as the admin types).',
    responses: { '200': jsonAnswer('A page of users.', 'UserPage') },
  },
  'POST /api/v1/ai/admin/keys': {
    summary: 'Create an API key (the key is shown once)',
    requestExample: { userId: '00000000-0000-4000-8000-000000000000', name: 'backend', role: 'user' },
    responses: { '201': jsonAnswer('The key (`key`, shown this once) and its record.', 'CreatedApiKey') },
  },
  'GET /api/v1/ai/admin/keys': {
    summary:
      "List API keys (prefixes only, never the keys), every user's or one's, oldest (or newest) first, a page at a time",
    query: 'KeyListQueryDto',
    description: PAGE_DESCRIPTION,
    responses: { '200': jsonAnswer('A page of keys (prefixes only).', 'ApiKeyPage') },
  },
  'DELETE /api/v1/ai/admin/keys/{id}': {
    summary: 'Revoke an API key',
    responses: { '200': jsonAnswer('The revoked key (`revokedAt` set).', 'ApiKey') },
  },
  'GET /api/v1/ai/admin/quotas/{userId}': {
    summary: "A user's limits and what is used of them",
    responses: { '200': jsonAnswer('The quota and its counters.', 'QuotaUsage') },
  },
  'PUT /api/v1/ai/admin/quotas/{userId}': {
    summary: "Set a user's limits",
    responses: { '200': jsonAnswer('The quota as stored (no counters).', 'Quota') },
  },
  'POST /api/v1/ai/admin/quotas/{userId}/reset': {
    summary: "Reset a user's counters",
    responses: { '200': jsonAnswer('The quota and its zeroed counters.', 'QuotaUsage') },
  },
  'GET /api/v1/ai/admin/providers/{id}/health': {
    summary: "A provider's health: status, streak and its probe history in a range",
    query: 'ProviderHealthQueryDto',
    responses: {
      '200': jsonAnswer(
        'The probes of the range (empty for a provider never probed), newest first, and the uptime over all of them.',
        'ProviderHealthHistory',
      ),
    },
  },
  'DELETE /api/v1/ai/admin/cache': {
    summary: 'Delete response cache entries: every one, those of a model, or those whose key starts so',
    query: 'InvalidateCacheQuery',
    responses: { '200': jsonAnswer('How many entries were deleted.', 'CacheDeleted') },
  },
  'GET /api/v1/ai/admin/cache/stats': {
    summary: "The response cache's hits, misses, size and the deployments it serves",
    responses: { '200': jsonAnswer('The counters since the process started, and the size.', 'CacheStats') },
  },
  'GET /api/v1/ai/admin/providers/{id}/models': {
    summary: "A provider's models: the catalog's, and those the monitor last found it serving",
    responses: { '200': jsonAnswer('The catalog and the discovered models, compared.', 'ProviderModels') },
  },
  'POST /api/v1/ai/admin/providers/{id}/circuit/reset': {
    summary: "Close a deployment's circuit breaker",
    description:
      'Closes the circuits and ends any cooldown (a wait its provider asked for with a 429, 503 or 529 and ' +
      'Retry-After); `endedCooldown` tells what was left of one the reset ended.',
    query: [
      {
        name: 'model',
        description: "Only this model's circuit (all of the provider's without).",
        schema: { type: 'string' },
      },
    ],
    responses: {
      '200': jsonAnswer('The deployments whose circuits were closed, and their state before.', 'CircuitReset'),
    },
  },
  'POST /api/v1/ai/admin/cache/warm': {
    summary: 'Warm the response cache: run requests as low-priority jobs that fill it (waits at most 60 s)',
    description:
      'Each request is `warmed` only when its answer is in the cache afterwards; one answered but not stored is ' +
      '`skipped` with a `reason` (`content_filtered`, `cache_disabled` for the model that answered, `too_large` over ' +
      'CACHE_MAX_ENTRY_BYTES, `not_stored` when the write did not land, `cache_unavailable`). A 409 `conflict` under ' +
      "`CACHE_SCOPE=user`: each user's entries are their own, and the warm requests (the admin's) would fill only the " +
      "admin's. A native request with `useCache: false` is a 400 naming `requests[i].useCache` (nothing runs).",
    requestExample: { requests: [{ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }] }] },
    responses: { '200': jsonAnswer('What happened to each request, in order, and the counts.', 'CacheWarmReport') },
  },
  'GET /api/v1/ai/admin/providers': {
    summary: 'List providers with health, circuit states, route in use, quota and 24 h usage (keys never shown)',
    description:
      "Each provider's settings (`hasApiKey`, never the key), `health`, `circuit` and `circuits`, `routeInUse`, " +
      '`usage24h`: its calls of the last 24 h (`requests`, answered or failed, its failed attempts of requests ' +
      'another answered included, response-cache hits and coalesced followers not; `failures` those that failed), ' +
      'and `quota`: its rate limits as the workers last read them from its response headers ' +
      '(`requests` and `tokens` windows of `{limit, remaining, resetAt, stale}`, `observedAt`, `route`), or null when ' +
      'no response of it carried any. A window whose `resetAt` has passed is `stale`: it has refilled since.',
    responses: { '200': jsonAnswer('Every provider of the catalog, sorted by id.', 'AdminProviderList') },
  },
  'GET /api/v1/ai/admin/providers/templates': {
    summary: 'Provider templates (Z.ai through the gateway, OpenAI, ...) and the kinds a provider may have',
    description:
      '`data`: the templates (`{template: name}` when creating); `kinds`: the wire formats a provider from scratch ' +
      'may have (`openai` serves every OpenAI-compatible server: vLLM, llama.cpp, LM Studio, LiteLLM).',
    responses: { '200': jsonAnswer('The templates and the kinds.', 'ProviderTemplates') },
  },
  'POST /api/v1/ai/admin/providers': {
    summary: 'Create a provider, from scratch or from a template',
    description:
      'Fields as in the catalog file (`gatewayId` for `gateway`), validated as the file is. `apiKey` is write-only ' +
      '(a literal, or `${VAR}` read from the environment: a variable `ADMIN_KEY_VARIABLES` lists, by default ' +
      '`*_API_KEY,HF_TOKEN`, any other being a 400 naming `apiKey`); answers show `hasApiKey`. Live on every process within a ' +
      'second. A `baseUrl` whose host is a link-local or cloud metadata address (`169.254.169.254`, `fd00:ec2::254`, ' +
      '`[::ffff:169.254.169.254]`, ...) is a 400 naming `baseUrl` unless `PROVIDER_ALLOW_LINK_LOCAL=true` (here, on ' +
      'update, for gateways and imports alike: there only a `baseUrl` new or changed from the stored one); a host ' +
      'name resolving to one is only refused when called.',
    requestBody: jsonBody('AdminProviderInput'),
    requestExample: { template: 'zai', gatewayId: 'litellm', enabled: true },
    responses: { '201': jsonAnswer('The provider as stored.', 'AdminProvider') },
  },
  'PATCH /api/v1/ai/admin/providers/{providerId}': {
    summary: 'Change a provider (null resets a field; apiKey null drops the key)',
    requestBody: jsonBody('AdminProviderPatch'),
    requestExample: { routing: 'gateway', gatewayId: 'litellm' },
    responses: { '200': jsonAnswer('The provider as stored.', 'AdminProvider') },
  },
  'POST /api/v1/ai/admin/providers/{providerId}/toggle': {
    summary: 'Enable or disable a provider (flips, or sets `enabled`)',
    requestBody: jsonBody('AdminProviderToggle', false),
    requestExample: { enabled: false },
    responses: { '200': jsonAnswer('The provider as stored.', 'AdminProvider') },
  },
  'DELETE /api/v1/ai/admin/providers/{providerId}': {
    summary: 'Delete a provider with its models',
    responses: { '200': jsonAnswer('The provider deleted, as it was.', 'AdminProvider') },
  },
  'POST /api/v1/ai/admin/providers/{providerId}/models': {
    summary: 'Add a model to a provider',
    requestBody: jsonBody('AdminModelInput'),
    requestExample: { name: 'glm-4.6', promptPer1k: 0.0006, completionPer1k: 0.0022, contextWindow: 200000 },
    responses: { '201': jsonAnswer('The model as stored.', 'AdminModel') },
  },
  'PATCH /api/v1/ai/admin/providers/{providerId}/models/{model}': {
    summary: "Change a model's prices, traits or enabled flag",
    requestBody: jsonBody('AdminModelPatch'),
    requestExample: { promptPer1k: 0.0005, enabled: true },
    responses: { '200': jsonAnswer('The model as stored.', 'AdminModel') },
  },
  'DELETE /api/v1/ai/admin/providers/{providerId}/models/{model}': {
    summary: 'Delete a model of a provider',
    responses: { '200': jsonAnswer('The model deleted, as it was.', 'AdminModel') },
  },
  'GET /api/v1/ai/admin/gateways': {
    summary: 'List LiteLLM-compatible gateways (keys never shown)',
    responses: { '200': jsonAnswer('Every gateway, sorted by id.', 'AdminGatewayList') },
  },
  'GET /api/v1/ai/admin/gateways/{gatewayId}': {
    summary: 'Read a gateway',
    responses: { '200': jsonAnswer('The gateway.', 'AdminGateway') },
  },
  'POST /api/v1/ai/admin/gateways': {
    summary: 'Add a gateway (e.g. a LiteLLM proxy)',
    requestBody: jsonBody('AdminGatewayInput'),
    requestExample: { id: 'litellm', baseUrl: 'http://litellm:4000/v1', apiKey: '${LITELLM_API_KEY}' },
    responses: { '201': jsonAnswer('The gateway as stored.', 'AdminGateway') },
  },
  'PATCH /api/v1/ai/admin/gateways/{gatewayId}': {
    summary: 'Change a gateway',
    requestBody: jsonBody('AdminGatewayPatch'),
    requestExample: { timeoutMs: 120000 },
    responses: { '200': jsonAnswer('The gateway as stored.', 'AdminGateway') },
  },
  'DELETE /api/v1/ai/admin/gateways/{gatewayId}': {
    summary: 'Delete a gateway no provider routes through',
    responses: { '200': jsonAnswer('The gateway deleted, as it was.', 'AdminGateway') },
  },
  'GET /api/v1/ai/admin/config/export': {
    query: [
      {
        name: 'format',
        description: 'yaml (the default) or json.',
        schema: { type: 'string', enum: ['yaml', 'json'] },
      },
    ],
    summary: 'Export the configuration (YAML or JSON, the catalog file format, no secrets)',
    responses: { '200': configExport() },
  },
  'POST /api/v1/ai/admin/config/import': {
    query: [
      { name: 'dryRun', description: 'true: answer the changes without applying them.', schema: { type: 'boolean' } },
    ],
    requestBody: {
      required: true,
      content: {
        ...jsonBody('ConfigImport').content,
        // The same document as YAML, as the catalog file and `?format=yaml` export write it.
        'application/yaml': { schema: { type: 'string' } },
        'text/yaml': { schema: { type: 'string' } },
      },
    },
    summary: 'Import a configuration (JSON or YAML; dryRun=true shows the changes only)',
    description:
      'Validated as a whole (every problem named by its path) and applied in one transaction: what the file lacks ' +
      'is removed, a key the file leaves out is kept.',
    responses: {
      '200': jsonAnswer(
        'The changes per gateway, provider and model; `applied` false on a dry run.',
        'ConfigImportResult',
      ),
    },
  },
  'POST /api/v1/ai/admin/providers/{id}/test': {
    summary: 'Test a provider connection, with troubleshooting',
    description:
      'The health-monitor probes the provider on the routes its routing uses (`direct`, `gateway`, both for `auto`) ' +
      'without a billed completion (unless the catalog sets `probe: completion`) and answers per route `ok`, ' +
      '`latencyMs`, `status`, `models` and a `diagnosis` (`dns_failure`, `connection_refused`, `tls_error`, `timeout`, ' +
      '`unauthorized`, `not_found`, `rate_limited`, `server_error`, `bad_response`) with a suggestion; when only the ' +
      'gateway works, `suggestion` holds the catalog change (YAML and the PATCH body). 503 when the monitor is not running.',
    responses: { '200': jsonAnswer('Per route, the result and its diagnosis.', 'ConnectionTestResult') },
  },
  'POST /api/v1/ai/admin/providers/test': {
    summary: 'Test unsaved provider settings, with troubleshooting',
    description:
      'The same test for settings not saved yet (a form before saving); `apiKey` is used once, never stored or echoed. ' +
      'A `${VAR}` key is read as saving the settings would read it; with `providerId`, as a PATCH of that saved ' +
      'provider would (its stored `apiKeyRef` accepted even outside `ADMIN_KEY_VARIABLES`; no `apiKey`: its stored ' +
      'key, which the monitor reads and nobody sees, as the PATCH keeps it); with ' +
      '`settingsOfGateway`, as a PATCH of that saved gateway would (the Gateway screen changing it).',
    requestExample: {
      kind: 'openai',
      baseUrl: 'https://api.z.ai/api/paas/v4',
      apiKey: 'sk-...',
      routing: 'auto',
      gatewayId: 'litellm',
    },
    responses: { '200': jsonAnswer('Per route, the result and its diagnosis.', 'ConnectionTestResult') },
  },
};
