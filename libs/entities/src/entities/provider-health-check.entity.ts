import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { ProviderEntity } from './provider.entity';

/** One probe of a provider by the health monitor. */
@Entity({ name: 'provider_health_checks' })
@Index('ix_provider_health_checks_provider_checked', ['providerId', 'checkedAt'])
export class ProviderHealthCheckEntity {
  @PrimaryGeneratedColumn('increment', { type: 'bigint', primaryKeyConstraintName: 'pk_provider_health_checks' })
  id: string;

  @Column({ name: 'provider_id', type: 'text' })
  providerId: string;

  @ManyToOne(() => ProviderEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'provider_id', foreignKeyConstraintName: 'fk_provider_health_checks_provider' })
  provider?: ProviderEntity;

  @Column({ type: 'boolean' })
  ok: boolean;

  @Column({ name: 'latency_ms', type: 'integer', nullable: true })
  latencyMs: number | null;

  /** HTTP status of the probe's response; null when none came (network error, timeout). */
  @Column({ type: 'integer', nullable: true })
  status: number | null;

  /** Short, secret-free description of a failure. */
  @Column({ type: 'text', nullable: true })
  message: string | null;

  @Column({ name: 'checked_at', type: 'timestamptz', default: () => 'now()' })
  checkedAt: Date;
}
