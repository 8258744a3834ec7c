import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * How far the health-monitor's usage pruning has gone, one row per level (`raw`: usage_records, `hourly`, `daily`:
 * their rollups): before `before`, that level's rows may be gone. The pruner writes it before it deletes and never
 * moves it back (a retention lengthened later does not bring rows back); analytics read it rather than their own
 * USAGE_*RETENTION_DAYS, so an api-gateway configured apart from the monitor still reads only rows that are kept.
 * No row: nothing of that level was ever pruned.
 */
@Entity({ name: 'usage_retention_edges' })
export class UsageRetentionEdgeEntity {
  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'pk_usage_retention_edges' })
  level: string;

  @Column({ type: 'timestamptz' })
  before: Date;
}
