import type { DataSource } from 'typeorm';

/** Rows one pruning statement deletes at most. */
export const PRUNE_BATCH_ROWS = 10_000;

/**
 * Deletes the rows of `table` (a `tableRef`) whose `column` is before `before`, oldest first, `batchSize` rows per
 * statement (each its own transaction); returns how many rows went. One DELETE of everything past a retention took
 * 1.5 s per 430,000 rows: a backlog (a retention lowered, or set for the first time over a year of data) outran the
 * 30 s query limit, and the rolled-back prune failed again every day while the table kept growing. `column` must
 * lead an index so each batch finds its oldest rows without a scan. Rows are addressed by ctid (a TID scan), so
 * tables without a single-column key (the rollups) prune the same way; a row updated meanwhile keeps its new
 * version (the delete re-checks it under its new ctid and skips it).
 */
export async function pruneOldestFirst(
  dataSource: DataSource,
  table: string,
  column: string,
  before: Date,
  batchSize: number = PRUNE_BATCH_ROWS,
): Promise<number> {
  let removed = 0;
  for (;;) {
    const [, count] = await dataSource.query<[unknown[], number]>(
      `DELETE FROM ${table}
        WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${table} WHERE ${column} < $1 ORDER BY ${column} LIMIT $2))`,
      [before, batchSize],
    );
    removed += count;
    if (count < batchSize) {
      return removed;
    }
  }
}
