import type { ProviderHealthStatus } from '@aigw/core';
import { Check, Column, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import type { ProviderSource } from './provider.entity';

/** An OpenAI-compatible proxy (e.g. LiteLLM) that providers can be routed through. */
@Entity({ name: 'gateways' })
@Check('ck_gateways_timeout_ms', '"timeout_ms" > 0')
@Check('ck_gateways_source', `"source" IN ('file', 'admin')`)
@Check('ck_gateways_health_status', `"health_status" IN ('unknown', 'healthy', 'degraded', 'failing')`)
export class GatewayEntity {
  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'pk_gateways' })
  id: string;

  @Column({ name: 'base_url', type: 'text' })
  baseUrl: string;

  /** SecretBox envelope; never returned by an endpoint. */
  @Column({ name: 'encrypted_secret', type: 'text', nullable: true })
  encryptedSecret: string | null;

  /** As ProviderEntity.apiKeyRef. */
  @Column({ name: 'api_key_ref', type: 'text', nullable: true })
  apiKeyRef: string | null;

  @Column({ name: 'timeout_ms', type: 'integer', default: 60000 })
  timeoutMs: number;

  /** As ProviderEntity.source: the boot seed leaves `admin` gateways alone. */
  @Column({ type: 'text', default: 'file' })
  source: ProviderSource;

  /** As ProviderEntity.seeded (without models). */
  @Column({ type: 'jsonb', nullable: true })
  seeded: object | null;

  /** The proxy's own health, as the monitor probes it (route `health`); same meaning as a provider's. */
  @Column({ name: 'health_status', type: 'text', default: 'unknown' })
  healthStatus: ProviderHealthStatus;

  @Column({ name: 'consecutive_failures', type: 'integer', default: 0 })
  consecutiveFailures: number;

  @Column({ name: 'last_check_at', type: 'timestamptz', nullable: true })
  lastCheckAt: Date | null;

  /** Past this instant the status is no longer confirmed by a probe and reads as `unknown` (`currentHealth`). */
  @Column({ name: 'health_valid_until', type: 'timestamptz', nullable: true })
  healthValidUntil: Date | null;

  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError: string | null;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
