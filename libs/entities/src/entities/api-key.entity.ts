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
} from 'typeorm';
import { UserEntity } from './user.entity';

export type ApiKeyRole = 'user' | 'admin';

/** A client key. Only its SHA-256 is stored; the plaintext is shown once at creation. */
@Entity({ name: 'api_keys' })
@Index('ix_api_keys_user_id', ['userId'])
@Index('ix_api_keys_prefix', ['prefix'])
@Index('ix_api_keys_created_at_id', ['createdAt', 'id'])
@Check('ck_api_keys_role', `"role" IN ('user', 'admin')`)
@Check('ck_api_keys_limits', '("rpm" IS NULL OR "rpm" >= 1) AND ("tpm" IS NULL OR "tpm" >= 1)')
@Unique('uq_api_keys_key_hash', ['keyHash'])
export class ApiKeyEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'pk_api_keys' })
  id: string;

  @Column({ name: 'user_id', type: 'uuid' })
  userId: string;

  @ManyToOne(() => UserEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id', foreignKeyConstraintName: 'fk_api_keys_user' })
  user?: UserEntity;

  @Column({ type: 'text', default: 'user' })
  role: ApiKeyRole;

  /** Hex SHA-256 of the key. */
  @Column({ name: 'key_hash', type: 'char', length: 64 })
  keyHash: string;

  /** The first characters of the key, safe to display, to tell keys apart. */
  @Column({ type: 'text' })
  prefix: string;

  @Column({ type: 'text', nullable: true })
  name: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'last_used_at', type: 'timestamptz', nullable: true })
  lastUsedAt: Date | null;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt: Date | null;

  /** After this the key answers 401 `key_expired`. */
  @Column({ name: 'expires_at', type: 'timestamptz', nullable: true })
  expiresAt: Date | null;

  /** Model names, `provider/model` refs or `provider/*` this key may use; null: every model. */
  @Column({ name: 'allowed_models', type: 'text', array: true, nullable: true })
  allowedModels: string[] | null;

  /** Requests per minute of this key; null: the user's tier, then the configured default. */
  @Column({ type: 'integer', nullable: true })
  rpm: number | null;

  /** Tokens per minute of this key (prompt estimate plus max_tokens at admission, corrected after). */
  @Column({ type: 'integer', nullable: true })
  tpm: number | null;
}
