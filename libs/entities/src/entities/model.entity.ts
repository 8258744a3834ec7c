import type { Capability, ModelCacheSettings } from '@aigw/core';
import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
  Unique,
  UpdateDateColumn,
} from 'typeorm';
import { numericTransformer } from '../transformers';
import { ProviderEntity } from './provider.entity';

/** A deployment: one model served by one provider, with its price and traits. */
@Entity({ name: 'models' })
@Unique('uq_models_provider_name', ['providerId', 'name'])
@Index('ix_models_name', ['name'])
@Check(
  'ck_models_prices',
  '"prompt_per_1k" >= 0 AND "completion_per_1k" >= 0 AND ("cached_prompt_per_1k" IS NULL OR "cached_prompt_per_1k" >= 0)',
)
@Check('ck_models_cache_write_price', '"cache_write_per_1k" IS NULL OR "cache_write_per_1k" >= 0')
@Check('ck_models_context_window', '"context_window" > 0')
@Check('ck_models_quality', '"quality" IS NULL OR ("quality" >= 0 AND "quality" <= 1)')
export class ModelEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'pk_models' })
  id: string;

  @Column({ name: 'provider_id', type: 'text' })
  providerId: string;

  @ManyToOne(() => ProviderEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'provider_id', foreignKeyConstraintName: 'fk_models_provider' })
  provider?: ProviderEntity;

  /** Name clients use. */
  @Column({ type: 'text' })
  name: string;

  /** Name sent upstream. */
  @Column({ name: 'upstream_name', type: 'text' })
  upstreamName: string;

  /** Shown to people (models listing, preferences); null: the name. */
  @Column({ name: 'display_name', type: 'text', nullable: true })
  displayName: string | null;

  @Column({ type: 'text', nullable: true })
  description: string | null;

  @Column({ name: 'prompt_per_1k', type: 'numeric', precision: 18, scale: 9, transformer: numericTransformer })
  promptPer1k: number;

  @Column({ name: 'completion_per_1k', type: 'numeric', precision: 18, scale: 9, transformer: numericTransformer })
  completionPer1k: number;

  @Column({
    name: 'cached_prompt_per_1k',
    type: 'numeric',
    precision: 18,
    scale: 9,
    nullable: true,
    transformer: numericTransformer,
  })
  cachedPromptPer1k: number | null;

  /** Price of prompt tokens written to the provider's prompt cache (Anthropic cache creation); null: the prompt price. */
  @Column({
    name: 'cache_write_per_1k',
    type: 'numeric',
    precision: 18,
    scale: 9,
    nullable: true,
    transformer: numericTransformer,
  })
  cacheWritePer1k: number | null;

  @Column({ name: 'context_window', type: 'integer' })
  contextWindow: number;

  @Column({ type: 'text', array: true, default: () => "'{chat,streaming}'" })
  capabilities: Capability[];

  /** 0..1, for the `quality` policy. */
  @Column({ type: 'real', nullable: true })
  quality: number | null;

  @Column({ type: 'boolean', default: true })
  enabled: boolean;

  /** Set in the catalog: the models listing flags it `recommended` whatever the computed rule says. */
  @Column({ type: 'boolean', default: false })
  recommended: boolean;

  /** Response cache settings overriding the global ones (`{enabled?, ttlS?}`); null: the global ones. */
  @Column({ type: 'jsonb', nullable: true })
  cache: ModelCacheSettings | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
