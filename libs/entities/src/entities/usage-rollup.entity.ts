import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { numericTransformer } from '../transformers';

/**
 * What one rollup row sums (ADR 0009). `provider` is '' when no deployment answered and `model` falls back to
 * the requested model, so the key has no NULLs. Counts per latency bucket are by position of
 * LATENCY_BUCKET_BOUNDS_MS (libs/core).
 */
abstract class UsageRollupMeasures {
  @Column({ type: 'integer' })
  requests: number;

  @Column({ type: 'integer' })
  successes: number;

  @Column({ name: 'cache_hits', type: 'integer' })
  cacheHits: number;

  /** bigint: node-postgres returns int8 as a string. */
  @Column({ name: 'prompt_tokens', type: 'bigint' })
  promptTokens: string;

  @Column({ name: 'completion_tokens', type: 'bigint' })
  completionTokens: string;

  @Column({ name: 'cached_tokens', type: 'bigint' })
  cachedTokens: string;

  @Column({ name: 'cost_usd', type: 'numeric', precision: 20, scale: 9, transformer: numericTransformer })
  costUsd: number;

  @Column({ name: 'cost_saved_usd', type: 'numeric', precision: 20, scale: 9, transformer: numericTransformer })
  costSavedUsd: number;

  @Column({ name: 'latency_sum_ms', type: 'bigint' })
  latencySumMs: string;

  @Column({ name: 'latency_buckets', type: 'integer', array: true })
  latencyBuckets: number[];

  /** Provider attempts that failed before their request's last one (a fallback's failed deployments): no requests. */
  @Column({ name: 'failed_attempts', type: 'integer', default: 0 })
  failedAttempts: number;

  /**
   * Provider calls: rows with a call of their own (attempts > 0, not a response-cache hit), failed attempts included;
   * a coalesced follower is none (its leader's row is the call).
   */
  @Column({ type: 'integer', default: 0 })
  calls: number;

  /** The provider calls that failed. */
  @Column({ name: 'failed_calls', type: 'integer', default: 0 })
  failedCalls: number;

  /** Requests their client left (`client_closed_request`): in `requests`, neither successes nor failures. */
  @Column({ name: 'client_closed', type: 'integer', default: 0 })
  clientClosed: number;
}

/** Usage per UTC hour, user, key, provider and model; written with the usage_records rows it sums. */
@Entity({ name: 'usage_hourly' })
@Index('ix_usage_hourly_user_hour', ['userId', 'hour'])
export class UsageHourlyEntity extends UsageRollupMeasures {
  @PrimaryColumn({ type: 'timestamptz', primaryKeyConstraintName: 'pk_usage_hourly' })
  hour: Date;

  @PrimaryColumn({ name: 'user_id', type: 'uuid', primaryKeyConstraintName: 'pk_usage_hourly' })
  userId: string;

  @PrimaryColumn({ name: 'api_key_id', type: 'uuid', primaryKeyConstraintName: 'pk_usage_hourly' })
  apiKeyId: string;

  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'pk_usage_hourly' })
  provider: string;

  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'pk_usage_hourly' })
  model: string;
}

/** The same per UTC day: long ranges read ~24× fewer rows. */
@Entity({ name: 'usage_daily' })
@Index('ix_usage_daily_user_day', ['userId', 'day'])
export class UsageDailyEntity extends UsageRollupMeasures {
  @PrimaryColumn({ type: 'timestamptz', primaryKeyConstraintName: 'pk_usage_daily' })
  day: Date;

  @PrimaryColumn({ name: 'user_id', type: 'uuid', primaryKeyConstraintName: 'pk_usage_daily' })
  userId: string;

  @PrimaryColumn({ name: 'api_key_id', type: 'uuid', primaryKeyConstraintName: 'pk_usage_daily' })
  apiKeyId: string;

  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'pk_usage_daily' })
  provider: string;

  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'pk_usage_daily' })
  model: string;
}

/**
 * Usage per UTC hour and deployment, all users and keys together: what the admin analytics read when they neither
 * filter nor group by user (hundreds of times fewer rows than usage_hourly).
 */
@Entity({ name: 'usage_deployment_hourly' })
export class UsageDeploymentHourlyEntity extends UsageRollupMeasures {
  @PrimaryColumn({ type: 'timestamptz', primaryKeyConstraintName: 'pk_usage_deployment_hourly' })
  hour: Date;

  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'pk_usage_deployment_hourly' })
  provider: string;

  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'pk_usage_deployment_hourly' })
  model: string;
}

/** The same per UTC day. */
@Entity({ name: 'usage_deployment_daily' })
export class UsageDeploymentDailyEntity extends UsageRollupMeasures {
  @PrimaryColumn({ type: 'timestamptz', primaryKeyConstraintName: 'pk_usage_deployment_daily' })
  day: Date;

  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'pk_usage_deployment_daily' })
  provider: string;

  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'pk_usage_deployment_daily' })
  model: string;
}
