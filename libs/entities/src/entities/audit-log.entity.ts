import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/** Every admin change (and every catalog seed that changed a row). `detail` never holds a secret. */
@Entity({ name: 'audit_log' })
@Index('ix_audit_log_created_at', ['createdAt'])
export class AuditLogEntity {
  @PrimaryGeneratedColumn('increment', { type: 'bigint', primaryKeyConstraintName: 'pk_audit_log' })
  id: string;

  /** Who: an API key id/prefix, `catalog-file`, `cli`, ... */
  @Column({ type: 'text' })
  actor: string;

  /** What, dotted: `provider.update`, `key.revoke`, `catalog.seed`, ... */
  @Column({ type: 'text' })
  action: string;

  @Column({ type: 'text', nullable: true })
  target: string | null;

  @Column({ type: 'jsonb', nullable: true })
  detail: Record<string, unknown> | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
