import type { HealthRoute } from '@aigw/core';
import { Check, Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { GatewayEntity } from './gateway.entity';
import { ProviderEntity } from './provider.entity';

/**
 * One probe of one route by the health monitor: of a provider (`direct`, `gateway`), or of a gateway itself
 * (`health`, `provider_id` null). The rows of one probe share `checked_at`.
 */
@Entity({ name: 'provider_health_checks' })
@Index('ix_provider_health_checks_provider_checked', ['providerId', 'checkedAt'])
@Index('ix_provider_health_checks_gateway_checked', ['gatewayId', 'checkedAt'])
@Index('ix_provider_health_checks_checked', ['checkedAt'])
@Check('ck_provider_health_checks_route', `"route" IN ('direct', 'gateway', 'health')`)
@Check('ck_provider_health_checks_subject', `("provider_id" IS NULL) <> ("gateway_id" IS NULL)`)
export class ProviderHealthCheckEntity {
  @PrimaryGeneratedColumn('increment', { type: 'bigint', primaryKeyConstraintName: 'pk_provider_health_checks' })
  id: string;

  @Column({ name: 'provider_id', type: 'text', nullable: true })
  providerId: string | null;

  @ManyToOne(() => ProviderEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'provider_id', foreignKeyConstraintName: 'fk_provider_health_checks_provider' })
  provider?: ProviderEntity;

  @Column({ name: 'gateway_id', type: 'text', nullable: true })
  gatewayId: string | null;

  @ManyToOne(() => GatewayEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'gateway_id', foreignKeyConstraintName: 'fk_provider_health_checks_gateway' })
  gateway?: GatewayEntity;

  @Column({ type: 'text', default: 'direct' })
  route: HealthRoute;

  @Column({ type: 'boolean' })
  ok: boolean;

  @Column({ name: 'latency_ms', type: 'integer', nullable: true })
  latencyMs: number | null;

  /** HTTP status of the probe's response; null when none came (network error, timeout). */
  @Column({ type: 'integer', nullable: true })
  status: number | null;

  /** ErrorClass of a failure (`network`, `timeout`, `auth`, ...); null on success. */
  @Column({ name: 'error_class', type: 'text', nullable: true })
  errorClass: string | null;

  /** Short, secret-free description of a failure. */
  @Column({ type: 'text', nullable: true })
  message: string | null;

  @Column({ name: 'checked_at', type: 'timestamptz', default: () => 'now()' })
  checkedAt: Date;
}
