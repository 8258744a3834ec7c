import type { RoutingPolicy } from '@aigw/core';
import { Column, CreateDateColumn, Entity, JoinColumn, ManyToOne, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import { bigintCountTransformer } from '../transformers';
import { UserEntity } from './user.entity';

/** A user's preferred model per context; the empty context is the user's default. */
@Entity({ name: 'user_preferences' })
export class UserPreferenceEntity {
  @PrimaryColumn({ name: 'user_id', type: 'uuid', primaryKeyConstraintName: 'pk_user_preferences' })
  userId: string;

  @ManyToOne(() => UserEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id', foreignKeyConstraintName: 'fk_user_preferences_user' })
  user?: UserEntity;

  /** '' is the default context. */
  @PrimaryColumn({ type: 'text', default: '', primaryKeyConstraintName: 'pk_user_preferences' })
  context: string;

  /**
   * The preferred deployment's provider id; null when `model` alone says what is preferred (a model name
   * served by any provider, a `provider/model` ref or an alias, as rows written before the API).
   * Not a foreign key: a provider removed or re-imported leaves the preference without effect, not deleted.
   */
  @Column({ type: 'text', nullable: true })
  provider: string | null;

  /** With `provider`: the model name at that provider. Without: `model`, `provider/model` or an alias. */
  @Column({ type: 'text' })
  model: string;

  @Column({ type: 'text', nullable: true })
  policy: RoutingPolicy | null;

  /** Requests the `preference` policy routed by this row (advanced by the workers in batches). */
  @Column({ name: 'usage_count', type: 'bigint', default: 0, transformer: bigintCountTransformer })
  usageCount: number;

  @Column({ name: 'last_used_at', type: 'timestamptz', nullable: true })
  lastUsedAt: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
