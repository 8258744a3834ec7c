import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Alerts decided with a probe's status update but not yet delivered (HealthAlertOutboxEntity): written in the same
 * transaction as the status, so a monitor that dies before it queued the delivery no longer loses the alert.
 */
export class HealthAlertOutbox1797050000000 implements MigrationInterface {
  name = 'HealthAlertOutbox1797050000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE TABLE "health_alert_outbox" ("id" uuid NOT NULL, "alert" jsonb NOT NULL,
        "created_at" timestamptz NOT NULL DEFAULT now(), CONSTRAINT "pk_health_alert_outbox" PRIMARY KEY ("id"))`,
    );
    await q.query(`CREATE INDEX "ix_health_alert_outbox_created" ON "health_alert_outbox" ("created_at")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "health_alert_outbox"`);
  }
}
