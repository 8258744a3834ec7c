import type { RoutingPolicy } from '@aigw/core';
import { Check, Column, Entity, Index, PrimaryGeneratedColumn, Unique } from 'typeorm';
import { numericTransformer } from '../transformers';

/**
 * One finished request, or one failed provider attempt of a request that another row stands for (`attemptOf`).
 * Append-only and written in batches off the hot path, so no foreign
 * keys: a usage event must never be refused because its user or provider was deleted meanwhile.
 */
@Entity({ name: 'usage_records' })
@Unique('uq_usage_records_request_id', ['requestId'])
@Check('ck_usage_records_status', `"status" IN ('success', 'error')`)
@Index('ix_usage_records_user_created', ['userId', 'createdAt'])
@Index('ix_usage_records_provider_created', ['provider', 'createdAt'])
@Index('ix_usage_records_created_at', ['createdAt'])
export class UsageRecordEntity {
  /** bigserial: node-postgres returns int8 as a string. */
  @PrimaryGeneratedColumn('increment', { type: 'bigint', primaryKeyConstraintName: 'pk_usage_records' })
  id: string;

  @Column({ name: 'request_id', type: 'text' })
  requestId: string;

  @Column({ name: 'user_id', type: 'uuid' })
  userId: string;

  @Column({ name: 'api_key_id', type: 'uuid' })
  apiKeyId: string;

  @Column({ name: 'requested_model', type: 'text' })
  requestedModel: string;

  @Column({ type: 'text', nullable: true })
  provider: string | null;

  @Column({ type: 'text', nullable: true })
  model: string | null;

  @Column({ type: 'text', nullable: true })
  context: string | null;

  @Column({ name: 'prompt_tokens', type: 'integer', default: 0 })
  promptTokens: number;

  @Column({ name: 'completion_tokens', type: 'integer', default: 0 })
  completionTokens: number;

  @Column({ name: 'cached_tokens', type: 'integer', default: 0 })
  cachedTokens: number;

  @Column({ name: 'cost_usd', type: 'numeric', precision: 18, scale: 9, default: 0, transformer: numericTransformer })
  costUsd: number;

  /** On a response cache hit: what the provider call it replaced cost (`cost_usd` is 0). */
  @Column({
    name: 'cost_saved_usd',
    type: 'numeric',
    precision: 18,
    scale: 9,
    default: 0,
    transformer: numericTransformer,
  })
  costSavedUsd: number;

  @Column({ name: 'latency_ms', type: 'integer', default: 0 })
  latencyMs: number;

  /**
   * A success's answering provider call's own time (UsageEvent.providerLatencyMs), which the deployment's latency
   * statistics average; null on other rows and on rows written before it was recorded (their `latency_ms` stands in).
   */
  @Column({ name: 'provider_latency_ms', type: 'integer', nullable: true })
  providerLatencyMs: number | null;

  /** Answered from the gateway's response cache. */
  @Column({ type: 'boolean', default: false })
  cached: boolean;

  @Column({ type: 'text' })
  status: 'success' | 'error';

  @Column({ name: 'error_class', type: 'text', nullable: true })
  errorClass: string | null;

  @Column({ name: 'error_code', type: 'text', nullable: true })
  errorCode: string | null;

  @Column({ type: 'integer', default: 0 })
  attempts: number;

  @Column({ type: 'text', nullable: true })
  policy: RoutingPolicy | null;

  @Column({ type: 'boolean', default: false })
  stream: boolean;

  /**
   * Set on the row of a provider attempt that failed before its request's last one: that request's id. Such rows
   * count for the deployment they failed on (the models listing), never as requests (quotas, analytics, rollups).
   */
  @Column({ name: 'attempt_of', type: 'text', nullable: true })
  attemptOf: string | null;

  /** When the gateway received the request (not when the row was written). */
  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt: Date;
}
