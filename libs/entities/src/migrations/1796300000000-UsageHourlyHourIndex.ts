import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * An index on usage_hourly's hour alone (ADR 0009). The primary key starts with the hour too, but the planner
 * discounts a multi-column index's correlation: it priced a week's range scan above a parallel scan of the whole
 * table (every page, through a ring buffer that never stays cached). With this index a range of hours reads only
 * its own pages.
 */
export class UsageHourlyHourIndex1796300000000 implements MigrationInterface {
  name = 'UsageHourlyHourIndex1796300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX "ix_usage_hourly_hour" ON "usage_hourly" ("hour")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "ix_usage_hourly_hour"`);
  }
}
