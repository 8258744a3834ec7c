import type { Redis } from 'ioredis';
import { Client } from 'pg';

/**
 * Removes one test run's keys from a shared Redis: its BullMQ keys (`{prefix}…`, hash-tagged) and its
 * own (`prefix:…`). Nothing else is touched, so suites can share the server.
 */
export async function deleteRedisKeysOf(redis: Redis, prefix: string): Promise<void> {
  for (const pattern of [`{${prefix}}*`, `${prefix}:*`]) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) {
        await redis.del(...keys);
      }
    } while (cursor !== '0');
  }
}

/** Drops one test run's PostgreSQL schema and everything in it. */
export async function dropSchema(databaseUrl: string, schema: string): Promise<void> {
  const pg = new Client({ connectionString: databaseUrl });
  await pg.connect();
  try {
    await pg.query(`DROP SCHEMA IF EXISTS "${schema.replace(/"/g, '""')}" CASCADE`);
  } finally {
    await pg.end();
  }
}
