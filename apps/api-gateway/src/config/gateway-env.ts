import { CACHE_SCOPES, DEFAULT_KEY_VARIABLES, HOUR_MS, KEY_VARIABLE_PATTERN, type CacheScope } from '@aigw/core';
import { isIP } from 'node:net';
import {
  corsOriginsOf,
  DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
  DEFAULT_RECEIVE_TIMEOUT_MS,
  IsListenHost,
  ReadableBy,
  RequestDeadlineEnv,
  toBool,
  toList,
} from '@aigw/platform';
import { Transform, Type } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  MinLength,
  ValidateBy,
} from 'class-validator';

/** The items of ADMIN_KEY_VARIABLES (`value`, as read) that are not a name or pattern, quoted. */
function notKeyVariables(value: unknown): string {
  const items = Array.isArray(value) ? value : [value];
  return items
    .filter((item) => typeof item !== 'string' || !KEY_VARIABLE_PATTERN.test(item))
    .map((item) => `'${String(item)}'`)
    .join(', ');
}

/** proxy-addr's names for ranges, usable in TRUST_PROXY's list. */
const NAMED_RANGES: ReadonlySet<string> = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** One entry of TRUST_PROXY's list, as Fastify's proxy-addr reads it: an address, a CIDR range or a range's name. */
function trustedPeerProblem(entry: string): string | null {
  if (NAMED_RANGES.has(entry)) {
    return null;
  }
  const slash = entry.indexOf('/');
  const address = slash === -1 ? entry : entry.slice(0, slash);
  const family = isIP(address);
  if (family === 0) {
    // A bare number reads to proxy-addr as an IPv4 address (`1` is 0.0.0.1), not as a hop count.
    return /^\d+$/.test(entry)
      ? `'${entry}' is not an address (hop counts are not supported: list the proxies' addresses)`
      : `'${entry}' is not an IP address, CIDR range or one of ${[...NAMED_RANGES].join(', ')}`;
  }
  if (slash !== -1) {
    const bits = entry.slice(slash + 1);
    const max = family === 4 ? 32 : 128;
    if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) {
      return `'${entry}' has a prefix length outside 0-${max}`;
    }
  }
  return null;
}

/**
 * TRUST_PROXY as Fastify's `trustProxy`: `true` (every peer: only behind a proxy that overwrites the header),
 * `false`, or the list of the proxies' addresses and ranges. Throws naming a bad entry.
 */
export function trustProxyOf(value: string): boolean | string[] {
  if (value === 'true' || value === 'false') {
    return value === 'true';
  }
  const entries = value.split(',').map((s) => s.trim());
  for (const entry of entries) {
    const problem = trustedPeerProblem(entry);
    if (problem !== null) {
      throw new Error(
        `TRUST_PROXY must be true, false, or a comma-separated list of IP addresses and CIDR ranges: ${problem}`,
      );
    }
  }
  return entries;
}

/**
 * The longest a job's outcome or an Idempotency-Key is kept (30 days, as CACHE_TTL_S): Redis refuses an expiry past
 * its range, and a value beyond it (`100000000000000000000`) passed the boot check to fail every request that needed
 * the key with a 503.
 */
const MAX_RETENTION_S = 30 * 86_400;

/** The most requests or tokens per minute a variable may set: the admin API's bound on a key's or tier's rates. */
const MAX_RATE = 1_000_000_000;

/** The api-gateway's environment, validated once at boot (see `loadEnvOrExit`). */
/**
 * CB_OPEN_MS and CB_HALF_OPEN_PROBES (CircuitTimingEnv) decide `available` in the models listing and preferences;
 * REQUEST_TIMEOUT_MS and the SHUTDOWN_GRACE_MS it sets by default are RequestDeadlineEnv's.
 */
export class GatewayEnv extends RequestDeadlineEnv {
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT = 3000;

  /**
   * Serve `/metrics` on this port (on HOST) and not on PORT, the public one; unset, PORT serves it. 0 picks a free
   * port (tests).
   */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(65535)
  @ValidateBy({
    name: 'isNotPort',
    validator: {
      validate: (value: unknown, args) => value === 0 || value !== (args?.object as GatewayEnv).PORT,
      defaultMessage: () => 'METRICS_PORT must differ from PORT (unset it to serve /metrics on PORT)',
    },
  })
  METRICS_PORT?: number;

  @IsListenHost()
  HOST = '127.0.0.1';

  /**
   * When set, an admin key with exactly this value exists after boot (stored hashed). A presented key never holds
   * whitespace (`Authorization: Bearer <key>`): the line break a Secret made from a file ends with is dropped (it was
   * stored with the key, which could then never be used, with nothing said at boot); any other space or line break
   * stops the boot.
   */
  @IsOptional()
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.replace(/[\r\n]+$/, '') : value))
  @IsString()
  @MinLength(8, { message: 'BOOTSTRAP_ADMIN_KEY must be at least 8 characters' })
  @Matches(/^\S+$/, {
    message: 'BOOTSTRAP_ADMIN_KEY must not hold spaces or line breaks: no request could send it',
  })
  BOOTSTRAP_ADMIN_KEY?: string;

  /**
   * How long a started stream may go without a byte before the gateway writes a keep-alive: an SSE comment
   * (`: keep-alive`) on /v1/chat/completions, Anthropic's `ping` event on /v1/messages. A provider
   * can go quiet mid-answer for minutes (a model thinking without showing it, a long tool-call argument) while a proxy
   * or load balancer in front cuts a response idle for 60 s (nginx `proxy_read_timeout`, AWS ALB). Clients skip both.
   * 0: never.
   */
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(HOUR_MS)
  SSE_KEEPALIVE_MS = 15_000;

  /**
   * Sync and streamed requests this gateway process holds at once (from arrival until answered, waiting for a worker
   * or running); past it a new one is answered `503 gateway_overloaded` with `Retry-After: 1` before it is admitted.
   * 5,000 arriving at once with 32 KB prompts peak at ~420 MB of heap (~66 KB each while they arrive, are parsed and
   * queued): the Kubernetes manifests give the api-gateway a 640 MB heap (V8's own is half the container's memory).
   * 0: no bound. Async submissions are not held in memory and do not count.
   */
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  MAX_PENDING_REQUESTS = 5_000;

  /**
   * The bodies' bytes (JSON as received, decoded) of the sync and streamed requests this gateway process holds at once,
   * from arrival until their responses close: MAX_PENDING_REQUESTS counts requests, and 5,000 bodies of MAX_BODY_BYTES
   * (2 MiB) are 10 GB. Past it a new one gets the same `503 gateway_overloaded`. The default, MAX_PENDING_REQUESTS'
   * 5,000 times the 32 KB prompts its heap figure was measured with, keeps that figure an upper bound whatever the
   * bodies' sizes (heap grows with both counts; neither passes the measured point). Retained heap measured in process
   * (queue paused, after a GC): ~1.6 bytes per body byte for 1 MiB bodies, less than a 32 KB prompt's per byte, so
   * larger bodies do not break that bound (the parse's transient peak is not measured). 0: no bound; else at least
   * MAX_BODY_BYTES, or a body at that limit could never be taken.
   */
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(64 * 1024 * 1024 * 1024)
  @ValidateBy({
    name: 'holdsOneBody',
    validator: {
      validate: (value: unknown, args) =>
        value === 0 || typeof value !== 'number' || value >= (args?.object as GatewayEnv).MAX_BODY_BYTES,
      defaultMessage: (args) =>
        `MAX_PENDING_BYTES must be 0 (no bound) or at least MAX_BODY_BYTES (${(args?.object as GatewayEnv).MAX_BODY_BYTES}): a body at that limit could never be taken`,
    },
  })
  MAX_PENDING_BYTES = 5_000 * 32 * 1024;

  /**
   * How long a connection test (`POST /api/v1/ai/admin/providers[/:id]/test`) waits for the health-monitor; keep
   * it above the monitor's PROBE_TIMEOUT_MS (the routes are probed concurrently).
   */
  @Type(() => Number)
  @IsInt()
  @Min(100)
  @Max(600_000)
  CONNECTION_TEST_TIMEOUT_MS = 30_000;

  /**
   * Plugin modules (`kind: plugin`) that admin changes, config imports and connection tests may name, comma-separated
   * as a provider's `plugin` writes them. Naming one makes this process and every router-worker `require` it, so the
   * choice is the operator's, not an admin key's: besides these, only a module the running catalog already loads
   * (from PROVIDERS_FILE, or saved before) is accepted.
   */
  @Transform(toList)
  @IsString({ each: true })
  ADMIN_ALLOWED_PLUGINS: string[] = [];

  /**
   * The environment variables an `apiKey` of the admin API, a config import or a connection test may name
   * (`"${OPENAI_API_KEY}"`), comma-separated, `*` standing for any characters: any other would let an admin key send
   * the variable (`AWS_SECRET_ACCESS_KEY`, `GITHUB_TOKEN`) as a bearer token to a URL of its choosing. The gateway's
   * own secrets (GATEWAY_SECRETS in catalog-file.ts) are refused even when listed; a reference already stored for the
   * same entry is accepted; PROVIDERS_FILE (the operator's) is not restricted. Empty is unset (the default).
   * The default's `*_API_KEY` is the usual spelling of a provider key, but also of other services' keys (DD_API_KEY,
   * SENDGRID_API_KEY) a shared `envFrom` may put in this process: an operator whose environment holds such keys lists
   * the provider variables by name. No variable of the gateway's own is so spelled (test/platform/env-manifests).
   */
  @Transform(toList)
  @IsString({ each: true })
  @Matches(KEY_VARIABLE_PATTERN, {
    each: true,
    message: (args) =>
      'ADMIN_KEY_VARIABLES must list variable names (letters, digits, _), comma-separated, `*` standing for any ' +
      `characters (e.g. *_API_KEY,HF_TOKEN): ${notKeyVariables(args.value)} is not one`,
  })
  ADMIN_KEY_VARIABLES: string[] = [...DEFAULT_KEY_VARIABLES];

  @Type(() => Number)
  @IsInt()
  @Min(1024)
  @Max(64 * 1024 * 1024)
  MAX_BODY_BYTES = 2 * 1024 * 1024;

  /**
   * How long a client may take to send a whole request, headers and body (Node's `requestTimeout`); 408 past it and
   * the connection is closed. 0: no limit. It ends once the request has arrived: the answer, a stream included, takes
   * as long as its generation.
   */
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(HOUR_MS)
  HTTP_RECEIVE_TIMEOUT_MS = DEFAULT_RECEIVE_TIMEOUT_MS;

  /**
   * How long a keep-alive connection may sit idle between requests before the gateway closes it. Keep it above the
   * idle timeout of a load balancer or proxy in front (AWS ALB 60 s, nginx `keepalive_timeout` 60 s): one that reuses
   * a connection the gateway is closing answers 502.
   */
  @Type(() => Number)
  @IsInt()
  @Min(1_000)
  @Max(HOUR_MS)
  HTTP_KEEP_ALIVE_TIMEOUT_MS = DEFAULT_KEEP_ALIVE_TIMEOUT_MS;

  /** How long a key lookup is trusted; a revoked key stops working within this time. */
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(600_000)
  AUTH_CACHE_TTL_MS = 5_000;

  /**
   * How long the outcome of a sync request with an Idempotency-Key stays readable for its replays. Sync jobs leave
   * BullMQ as they complete; without a key their outcome is kept only until the deadline (ADR 0001).
   */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_RETENTION_S)
  SYNC_JOB_RETENTION_S = 600;

  /** How long a completed async job stays in BullMQ for `GET /api/v1/ai/jobs/:id`; also its deadline. */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_RETENTION_S)
  ASYNC_JOB_RETENTION_S = 86_400;

  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_RETENTION_S)
  IDEMPOTENCY_TTL_S = 86_400;

  /** Completion allowance reserved against spend budgets for a request without max_tokens. */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  QUOTA_DEFAULT_MAX_TOKENS = 4096;

  /** YAML adding or overriding usage tiers (`tiers: { name: { rpm, tpm, dailyRequestLimit, ... } }`); read at boot. */
  @IsOptional()
  @IsString()
  @MinLength(1)
  TIERS_FILE?: string;

  /** Requests per minute per key and per user when neither the key nor the user's tier sets one; unset: unlimited. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_RATE)
  RATE_LIMIT_RPM?: number;

  /** Tokens per minute per key and per user when neither the key nor the user's tier sets one; unset: unlimited. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_RATE)
  RATE_LIMIT_TPM?: number;

  /** Answers identical requests from the response cache (ADR 0005); per request `useCache` / `x-gateway-cache`. */
  @Transform(toBool)
  @IsBoolean()
  CACHE_ENABLED = false;

  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(30 * 86_400)
  CACHE_TTL_S = 3600;

  /** `global`: identical requests share answers across users; `user`: each user's answers are kept apart. */
  @IsIn(CACHE_SCOPES)
  CACHE_SCOPE: CacheScope = 'global';

  /** Answers larger than this (serialised) are not stored. */
  @Type(() => Number)
  @IsInt()
  @Min(1024)
  @Max(64 * 1024 * 1024)
  CACHE_MAX_ENTRY_BYTES = 256 * 1024;

  /**
   * Seconds an answer is kept past CACHE_TTL_S to answer, stale, when every provider failed (`x-gateway-cache:
   * stale` with a `Warning` header); 0: never.
   */
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(30 * 86_400)
  CACHE_STALE_TTL_S = 0;

  /**
   * Identical requests in flight at the same time share one provider call (ADR 0007); only requests that may be
   * answered from the response cache (so only with CACHE_ENABLED).
   */
  @Transform(toBool)
  @IsBoolean()
  COALESCE_ENABLED = true;

  /** `GET /api/v1/ai/models` without an API key (rate limited per client address); false: any valid key. */
  @Transform(toBool)
  @IsBoolean()
  MODELS_PUBLIC = false;

  /**
   * Which peers are proxies whose `X-Forwarded-For` names the client (see trustProxyOf). The client address is what
   * the per-address limits (MODELS_PUBLIC_RPM) count: behind a proxy left untrusted every client shares its address.
   */
  @ReadableBy('isTrustProxy', trustProxyOf)
  TRUST_PROXY = 'false';

  /**
   * The origins whose browser pages may call the gateway (CORS, see corsOriginsOf): empty (the default) for none, as
   * before (the console is same-origin); `*` for any (without credentials); or exact `scheme://host[:port]` origins.
   */
  @ReadableBy('isCorsOrigins', corsOriginsOf)
  CORS_ORIGINS = '';

  /** Requests per minute per client address to the public models listing (each gateway replica counts its own). */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_RATE)
  MODELS_PUBLIC_RPM = 60;

  /** How often the models listing recomputes latency and success rates (one grouped query) and health. */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(3600)
  MODELS_STATS_REFRESH_S = 30;
}
