import type { DataSource, QueryRunner } from 'typeorm';

/** A UsageAnalyticsStore aggregate. */
export const isAggregate = (sql: string): boolean => sql.includes('GROUP BY parts.key');
/** The read of the pruning's edges (UsageRetentionStore.cutoffs). */
export const isEdgesRead = (sql: string): boolean => sql.includes('SELECT level, before FROM');
export const isBegin = (sql: string): boolean => /^(START TRANSACTION|BEGIN)\b/i.test(sql);

/**
 * Every query of `ds` (each goes through a query runner it creates), and a hook: `between` runs once, after the first
 * read matching `after` completed and before any later matching read is sent (held back until the hook is done), so
 * whatever it writes lands between two reads even when they are issued side by side.
 */
export function watch(ds: DataSource): {
  queries: string[];
  between: (after: (sql: string) => boolean, hook: () => Promise<unknown>) => void;
  /** The hook has run (or never will). */
  settled: () => Promise<void>;
} {
  const queries: string[] = [];
  let match: ((sql: string) => boolean) | null = null;
  let hook: (() => Promise<unknown>) | null = null;
  let gate: Promise<void> | null = null;
  const create = ds.createQueryRunner.bind(ds);
  jest.spyOn(ds, 'createQueryRunner').mockImplementation((mode) => {
    const qr: QueryRunner = create(mode);
    const query = qr.query.bind(qr) as (...args: unknown[]) => Promise<unknown>;
    // QueryRunner.query is overloaded: the wrapper takes its arguments as they come.
    (qr as unknown as { query: (...args: unknown[]) => Promise<unknown> }).query = async (...args: unknown[]) => {
      const sql = String(args[0]);
      queries.push(sql);
      if (match === null || !match(sql)) {
        return query(...args);
      }
      if (gate === null) {
        const run = hook!;
        const result = query(...args);
        gate = result.then(
          async () => {
            await run();
          },
          () => undefined,
        );
        return result;
      }
      await gate;
      return query(...args);
    };
    return qr;
  });
  return {
    queries,
    between: (after, h) => {
      match = after;
      hook = h;
      gate = null;
    },
    settled: () => gate ?? Promise.resolve(),
  };
}
