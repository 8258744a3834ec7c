import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Where the usage pruning has gone per level (UsageRetentionEdgeEntity): analytics read it instead of assuming
 * their own USAGE_*RETENTION_DAYS match the health-monitor's. A schema pruned before this release gets the edges its
 * rows show, so the analytics need not wait for the next daily prune: records may be gone before the oldest one when
 * an earlier hour holds usage (all of them when none is left), hourly rows before the oldest one when an earlier day
 * does. Both reads lead an index. The daily edge is not read by the analytics: the next prune records it.
 */
export class UsageRetentionEdges1796600000000 implements MigrationInterface {
  name = 'UsageRetentionEdges1796600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE TABLE "usage_retention_edges" ("level" text NOT NULL, "before" timestamptz NOT NULL,
        CONSTRAINT "pk_usage_retention_edges" PRIMARY KEY ("level"))`,
    );
    const edge = (level: string, finer: string, time: string, coarser: string, unit: string): string =>
      `INSERT INTO "usage_retention_edges" ("level", "before")
       SELECT '${level}', COALESCE(f.oldest, now()) FROM (SELECT min("${time}") AS oldest FROM "${finer}") f
        WHERE EXISTS (SELECT 1 FROM "${coarser}"
                       WHERE "${unit}" < COALESCE(date_trunc('${unit}', f.oldest, 'UTC'), 'infinity'))`;
    await q.query(edge('raw', 'usage_records', 'created_at', 'usage_hourly', 'hour'));
    await q.query(edge('hourly', 'usage_hourly', 'hour', 'usage_daily', 'day'));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "usage_retention_edges"`);
  }
}
