import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A provider's most inputs per embeddings request (catalog `maxEmbeddingInputs`: TEI refuses more than its
 * `--max-client-batch-size`); null: the default of its family.
 */
export class MaxEmbeddingInputs1797300000000 implements MigrationInterface {
  name = 'MaxEmbeddingInputs1797300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "providers" ADD COLUMN "max_embedding_inputs" integer`);
    await q.query(
      `ALTER TABLE "providers" ADD CONSTRAINT "ck_providers_max_embedding_inputs" CHECK ("max_embedding_inputs" > 0)`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "providers" DROP CONSTRAINT "ck_providers_max_embedding_inputs"`);
    await q.query(`ALTER TABLE "providers" DROP COLUMN "max_embedding_inputs"`);
  }
}
