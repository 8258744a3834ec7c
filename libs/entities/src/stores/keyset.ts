/** A UUID in its canonical text, lowercase (as PostgreSQL writes it): for patterns that embed one. */
export const UUID_PATTERN = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

/** A whole string that is a UUID, in either case (PostgreSQL's `::uuid` takes both). */
export const UUID = new RegExp(`^${UUID_PATTERN}$`, 'i');

/**
 * Where a page of a listing ordered by `(created_at, id)` ended: the next page starts after it. `at` is PostgreSQL's
 * own text of created_at, to the microsecond: a JS Date keeps milliseconds only, and a position rounded to them
 * would repeat or skip rows created within the same millisecond.
 */
export interface KeysetPosition {
  at: string;
  id: string;
}

/** One page of a keyset listing; `next` null on the last page. */
export interface KeysetPage<T> {
  items: T[];
  next: KeysetPosition | null;
}

export interface KeysetQuery {
  /** Rows per page (the caller bounds it). */
  limit: number;
  /** Start after this position; absent: from the first row. */
  after?: KeysetPosition;
  /** `asc` (default): oldest first; `desc`: newest first, and "after" a position is before it in time. */
  order?: 'asc' | 'desc';
}

/**
 * The SQL of a keyset query's order over `(created_at, id)` of table alias `t`: the comparison that starts after a
 * position (`$at`, `$id` placeholders given) and the ORDER BY. The index on (created_at, id) serves both directions.
 */
export function keysetOrderSql(t: string, order: KeysetQuery['order'], at: string, id: string) {
  const desc = order === 'desc';
  return {
    after: `(${t}.created_at, ${t}.id) ${desc ? '<' : '>'} (${at}::timestamptz, ${id}::uuid)`,
    orderBy: desc ? `${t}.created_at DESC, ${t}.id DESC` : `${t}.created_at, ${t}.id`,
  };
}

/** created_at as `at` carries it: UTC, microseconds, parsed back exactly by `::timestamptz`. */
export function keysetAtSql(column: string): string {
  return `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}

/**
 * The page of `rows` fetched with `LIMIT limit + 1` (one more row than asked tells whether another page follows,
 * without a count), each row carrying its position in `cursorAt`: the items are the rows without it.
 */
export function keysetPage<R extends { id: string; cursorAt: string }>(
  rows: R[],
  limit: number,
): KeysetPage<Omit<R, 'cursorAt'>> {
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    items: page.map(({ cursorAt: _cursorAt, ...item }) => item),
    next: rows.length > limit && last !== undefined ? { at: last.cursorAt, id: last.id } : null,
  };
}
