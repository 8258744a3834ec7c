import type { Capability } from '@aigw/core';
import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { ProviderEntity } from './provider.entity';

/**
 * A model a provider listed (through the route that worked, its gateway included) when the monitor last asked.
 * Served now: `last_seen_at` equals the provider's `models_refreshed_at`. Never enables anything by itself.
 */
@Entity({ name: 'provider_discovered_models' })
export class ProviderDiscoveredModelEntity {
  @PrimaryColumn({ name: 'provider_id', type: 'text', primaryKeyConstraintName: 'pk_provider_discovered_models' })
  providerId: string;

  @ManyToOne(() => ProviderEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'provider_id', foreignKeyConstraintName: 'fk_provider_discovered_models_provider' })
  provider?: ProviderEntity;

  /** The id the provider lists (the upstream name). */
  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'pk_provider_discovered_models' })
  model: string;

  /** Guessed from the name and the provider's wire format (`detectCapabilities`). */
  @Column({ type: 'jsonb' })
  capabilities: Capability[];

  @Column({ name: 'first_seen_at', type: 'timestamptz' })
  firstSeenAt: Date;

  @Column({ name: 'last_seen_at', type: 'timestamptz' })
  lastSeenAt: Date;
}
