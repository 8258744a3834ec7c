import { Check, Column, Entity, JoinColumn, OneToOne, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import { numericTransformer } from '../transformers';
import { UserEntity } from './user.entity';

/** Per-user limits; a null limit means unlimited. */
@Entity({ name: 'user_quotas' })
@Check(
  'ck_user_quotas_limits',
  '("daily_request_limit" IS NULL OR "daily_request_limit" >= 0) AND ("monthly_request_limit" IS NULL OR "monthly_request_limit" >= 0) AND ("daily_spend_limit_usd" IS NULL OR "daily_spend_limit_usd" >= 0) AND ("monthly_spend_limit_usd" IS NULL OR "monthly_spend_limit_usd" >= 0)',
)
export class UserQuotaEntity {
  @PrimaryColumn({ name: 'user_id', type: 'uuid', primaryKeyConstraintName: 'pk_user_quotas' })
  userId: string;

  @OneToOne(() => UserEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id', foreignKeyConstraintName: 'fk_user_quotas_user' })
  user?: UserEntity;

  @Column({ type: 'text', default: 'default' })
  tier: string;

  @Column({ name: 'daily_request_limit', type: 'integer', nullable: true })
  dailyRequestLimit: number | null;

  @Column({ name: 'monthly_request_limit', type: 'integer', nullable: true })
  monthlyRequestLimit: number | null;

  @Column({
    name: 'daily_spend_limit_usd',
    type: 'numeric',
    precision: 18,
    scale: 9,
    nullable: true,
    transformer: numericTransformer,
  })
  dailySpendLimitUsd: number | null;

  @Column({
    name: 'monthly_spend_limit_usd',
    type: 'numeric',
    precision: 18,
    scale: 9,
    nullable: true,
    transformer: numericTransformer,
  })
  monthlySpendLimitUsd: number | null;

  /** When the daily counters were last reset by an admin; usage before it no longer counts today. */
  @Column({ name: 'daily_reset_at', type: 'timestamptz', nullable: true })
  dailyResetAt: Date | null;

  /** When the monthly counters were last reset by an admin. */
  @Column({ name: 'monthly_reset_at', type: 'timestamptz', nullable: true })
  monthlyResetAt: Date | null;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
