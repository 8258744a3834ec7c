import { Type } from 'class-transformer';
import { IsIn, IsInt, IsNotEmpty, IsNumber, IsOptional, IsString, Max, Min } from 'class-validator';
import { DAY_MS, ROUTING_POLICIES, type RoutingPolicy } from '@aigw/core';
import { IsListenHost, RequestDeadlineEnv } from '@aigw/platform';

/**
 * The router-worker's environment, validated once at boot (see `loadEnvOrExit`). REQUEST_TIMEOUT_MS (the gateways',
 * RequestDeadlineEnv) sizes its default SHUTDOWN_GRACE_MS: a sync job runs to that deadline.
 */
export class WorkerEnv extends RequestDeadlineEnv {
  /** Port of the small ops server (`/health/*`, `/metrics`); 0 picks a free one. */
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(65_535)
  PORT = 3001;

  @IsListenHost()
  HOST = '127.0.0.1';

  /**
   * Generate jobs processed in parallel by one process. Each mostly waits on its provider, so this is the number of
   * provider calls one process keeps in flight: with answers taking seconds, 64 capped a process at a few dozen
   * requests per second while its CPU idled.
   */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(10_000)
  WORKER_CONCURRENCY = 256;

  /** A job's lock lives this long unless renewed; a dead worker's job is taken over soon after it lapses. */
  @Type(() => Number)
  @IsInt()
  @Min(500)
  @Max(600_000)
  WORKER_LOCK_MS = 10_000;

  /** How often this worker looks for jobs whose lock lapsed (their worker died). */
  @Type(() => Number)
  @IsInt()
  @Min(100)
  @Max(600_000)
  WORKER_STALLED_INTERVAL_MS = 5_000;

  /** Takeovers allowed per job before it is failed (a job that keeps killing workers must stop somewhere). */
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(100)
  WORKER_MAX_STALLED_COUNT = 2;

  /**
   * A job that waited longer than this since its admission has its API key checked again (PostgreSQL, cached per key
   * for a second) before it runs: one whose key was revoked or expired, or whose user was deleted, meanwhile ends with
   * the gateway's 401 instead of calling a provider. 0 checks every job; a job taken sooner runs as admitted.
   */
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(DAY_MS)
  KEY_RECHECK_AFTER_MS = 1_000;

  /** Usage jobs held at once by the writer; bounds how many events one batch can gather. */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(10_000)
  USAGE_CONCURRENCY = 256;

  /** Rows per INSERT (one statement per batch); bigger batches mean fewer round trips but longer transactions. */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(2_000)
  USAGE_BATCH_SIZE = 200;

  /**
   * Longest an event waits in the buffer for its batch to fill. Each batch is one statement that PostgreSQL plans
   * afresh (the records and four rollups: ~8-10 ms of planning on the bench box, whatever the batch's size), so at
   * low load the statement count, not the rows, is the database's cost: 50 ms made 20 statements a second out of a
   * trickle of traffic. Usage only feeds reports and analytics, which a quarter of a second does not change.
   */
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(60_000)
  USAGE_FLUSH_MS = 250;

  /**
   * Policy of requests that name none. `preference` orders by the user's preferred models and, where the user
   * has none, by estimated cost, so it costs nothing over `cost` until users set preferences (one cached
   * PostgreSQL read per user every few seconds).
   */
  @IsIn(ROUTING_POLICIES)
  ROUTING_DEFAULT_POLICY: RoutingPolicy = 'preference';

  /** The system default of the preference policy: a model name or `provider/model`, tried after the user's own. */
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  ROUTING_DEFAULT_MODEL?: string;

  /** Deployments tried per request (the first plus fallbacks). */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(20)
  ROUTING_MAX_ATTEMPTS = 3;

  /** Completion tokens assumed for cost estimates when a request sets no max_tokens. */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  ROUTING_AVG_COMPLETION_TOKENS = 256;

  /** Weight of the newest sample in the latency moving average (0 < alpha <= 1; higher reacts faster). */
  @Type(() => Number)
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0.001)
  @Max(1)
  LATENCY_EWMA_ALPHA = 0.3;

  /** Retries of one deployment after its first call, for retryable failures (network, timeout, 429, 5xx). */
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(10)
  RETRY_MAX = 2;

  /** Cap of the first retry's jittered delay; each further retry doubles it. */
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(600_000)
  RETRY_BASE_MS = 1000;

  /** No computed backoff exceeds this (a provider's Retry-After may). */
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(600_000)
  RETRY_MAX_DELAY_MS = 30_000;

  /** A retry is only made when at least this long remains before the request's deadline after the wait. */
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(600_000)
  RETRY_MIN_CALL_MS = 1000;

  /** Consecutive provider-side failures that open a deployment's circuit. */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(10_000)
  CB_FAILURE_THRESHOLD = 5;

  /** Failure ratio in the sliding window above which the circuit opens (once CB_MIN_VOLUME calls were seen). */
  @Type(() => Number)
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(1)
  CB_FAILURE_RATE = 0.5;

  /** Length of the failure-rate window. */
  @Type(() => Number)
  @IsInt()
  @Min(10)
  @Max(DAY_MS)
  CB_WINDOW_MS = 60_000;

  /** Calls the window must hold before the failure rate may open the circuit. */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  CB_MIN_VOLUME = 20;

  /**
   * A probe slot frees itself after this long (a worker died mid-probe); a probe whose route's timeout is longer
   * holds its slot twice that timeout (`probeSlotMs`), so a slow provider's probe still waiting lets no other in.
   */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(DAY_MS)
  CB_PROBE_TTL_MS = 120_000;
}
