import type { RoutingPolicy } from '@aigw/core';
import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn, UpdateDateColumn } from 'typeorm';
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

  /** `model`, `provider/model` or an alias. */
  @Column({ type: 'text' })
  model: string;

  @Column({ type: 'text', nullable: true })
  policy: RoutingPolicy | null;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
