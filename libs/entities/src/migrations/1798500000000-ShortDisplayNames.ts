import type { MigrationInterface, QueryRunner } from 'typeorm';

/** `value` cut to `max` UTF-16 units (the catalog reader's `length`), an ellipsis saying so, no half surrogate pair. */
export function shortened(value: string, max: number): string {
  if (value.length <= max) {
    return value;
  }
  let cut = value.slice(0, max - 1);
  const last = cut.charCodeAt(cut.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) {
    cut = cut.slice(0, -1);
  }
  return `${cut}…`;
}

/** Table, column, limit: the catalog reader's MAX_DISPLAY_NAME and MAX_MODEL_DESCRIPTION, as they were (frozen). */
const LIMITED: readonly (readonly [string, string, number])[] = [
  ['providers', 'display_name', 200],
  ['models', 'display_name', 200],
  ['models', 'description', 2_000],
];

/**
 * The catalog reader refuses a provider's or a model's `displayName` over 200 characters and a model's `description`
 * over 2,000, which the admin API stored at any length before: every admin change of such a provider validates its
 * whole document (a timeout, a model added), and was refused over a value the change did not touch, as an export
 * of it would be on import. Such values are cut to the limit, an ellipsis ending them.
 *
 * The limits count UTF-16 units, PostgreSQL `char_length` code points (at most as many): rows over half the limit in
 * code points are read, and cut here. Not undone by `down` (the cut text is gone).
 */
export class ShortDisplayNames1798500000000 implements MigrationInterface {
  name = 'ShortDisplayNames1798500000000';

  async up(q: QueryRunner): Promise<void> {
    for (const [table, column, max] of LIMITED) {
      const rows = (await q.query(
        `SELECT "id", "${column}" AS "value" FROM "${table}" WHERE char_length("${column}") > $1`,
        [Math.floor(max / 2)],
      )) as { id: string; value: string }[];
      for (const row of rows) {
        const value = shortened(row.value, max);
        if (value !== row.value) {
          await q.query(`UPDATE "${table}" SET "${column}" = $1 WHERE "id" = $2`, [value, row.id]);
        }
      }
    }
  }

  async down(): Promise<void> {
    // Nothing to undo: the longer values were never valid for the reader.
  }
}
