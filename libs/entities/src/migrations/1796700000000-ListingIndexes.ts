import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The admin listings of users and keys page by `(created_at, id)` (a keyset): these indexes let each page start at
 * its position instead of sorting the whole table, which took seconds at 50,000 keys.
 */
export class ListingIndexes1796700000000 implements MigrationInterface {
  name = 'ListingIndexes1796700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX "ix_users_created_at_id" ON "users" ("created_at", "id")`);
    await q.query(`CREATE INDEX "ix_api_keys_created_at_id" ON "api_keys" ("created_at", "id")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "ix_api_keys_created_at_id"`);
    await q.query(`DROP INDEX "ix_users_created_at_id"`);
  }
}
