import type { DataSource, EntityManager } from 'typeorm';

/**
 * Runs `work` in one REPEATABLE READ, read-only transaction: every read it makes sees the same snapshot, so an answer
 * built from several reads agrees with itself when rows are written or pruned meanwhile. The reads run one after
 * another on the transaction's connection. `jit: false` turns JIT compilation off for the transaction (see
 * UsageAnalyticsStore for why its queries want that).
 */
export async function readSnapshot<T>(
  dataSource: DataSource,
  work: (em: EntityManager) => Promise<T>,
  options: { jit?: boolean } = {},
): Promise<T> {
  return dataSource.transaction(async (em) => {
    // One round trip for both (TypeORM would spend one more on the isolation level); before any read, as it must.
    await em.query(
      `SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY${options.jit === false ? '; SET LOCAL jit = off' : ''}`,
    );
    return work(em);
  });
}
