import { randomUUID } from 'node:crypto';
import { createDataSourceOptions } from '@aigw/entities';
import { DataSource } from 'typeorm';

import { TEST_DATABASE_URL as DATABASE_URL } from '@aigw/testing';
export { DATABASE_URL };

/** A schema name no other test file or run uses. */
export function uniqueSchema(label: string): string {
  return `t_${label}_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
}

export async function openDataSource(schema: string, poolSize?: number): Promise<DataSource> {
  return new DataSource(createDataSourceOptions({ url: DATABASE_URL, schema, poolSize })).initialize();
}

/** Drops the schema with a connection of its own (the test's DataSource may be gone by then). */
export async function dropSchema(schema: string): Promise<void> {
  const admin = await openDataSource('public', 1);
  try {
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await admin.destroy();
  }
}

export async function tablesIn(ds: DataSource, schema: string): Promise<string[]> {
  const rows = await ds.query<{ table_name: string }[]>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`,
    [schema],
  );
  return rows.map((r) => r.table_name);
}
