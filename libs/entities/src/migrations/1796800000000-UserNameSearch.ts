import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The admin users listing searches by name (`?q=`, a case-insensitive prefix, as the console's user pickers type it):
 * `lower(name) LIKE 'abc%'` reads a range of this index instead of every user. text_pattern_ops: the range works
 * under any collation, not only "C".
 */
export class UserNameSearch1796800000000 implements MigrationInterface {
  name = 'UserNameSearch1796800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX "ix_users_lower_name" ON "users" (lower("name") text_pattern_ops)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "ix_users_lower_name"`);
  }
}
