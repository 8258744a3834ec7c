import type { HealthAlert } from '@aigw/core';
import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * Health alerts decided but not yet delivered to ALERT_WEBHOOK_URL: written in the transaction of the status update
 * that decided them (ProviderHealthStore.recordTimedProbe), deleted once their delivery ends. A monitor that dies
 * between the two leaves the row, and the relay job queues its delivery again (at least once; `id` is the alert's
 * `alertId`, which the receiver dedupes by).
 */
@Entity({ name: 'health_alert_outbox' })
@Index('ix_health_alert_outbox_created', ['createdAt'])
export class HealthAlertOutboxEntity {
  @PrimaryColumn({ type: 'uuid', primaryKeyConstraintName: 'pk_health_alert_outbox' })
  id: string;

  /** The alert as POSTed (its `alertId` is `id`). */
  @Column({ type: 'jsonb' })
  alert: HealthAlert;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt: Date;
}
