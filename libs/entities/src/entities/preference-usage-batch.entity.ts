import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * The preference usage batches written (`PreferenceStore.recordUses`), one row per batch id, inserted by the statement
 * that adds the batch's counts: a batch written again (its reply was lost after PostgreSQL committed it, and the
 * worker retried it) finds its row and adds nothing. Rows older than PREFERENCE_USAGE_BATCH_KEEP_MS are deleted by
 * the later writes; a worker gives up retrying a batch well before that (PREFERENCE_USAGE_RETRY_MS).
 */
@Entity({ name: 'preference_usage_batches' })
export class PreferenceUsageBatchEntity {
  @PrimaryColumn({ name: 'batch_id', type: 'uuid', primaryKeyConstraintName: 'pk_preference_usage_batches' })
  batchId: string;

  @Index('idx_preference_usage_batches_written_at')
  @Column({ name: 'written_at', type: 'timestamptz', default: () => 'now()' })
  writtenAt: Date;
}
