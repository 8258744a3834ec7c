// The bench's own PostgreSQL connection: finds the backends serving the apps under test (by
// application_name) and drops the run's schema at the end.
import pg from 'pg';

export async function openPostgres(url) {
  const client = new pg.Client({ connectionString: url, application_name: 'aigw-bench-orchestrator' });
  await client.connect();
  return {
    /** PIDs of the server processes whose application_name starts with `prefix`. */
    async backendPids(prefix) {
      const { rows } = await client.query(
        'SELECT pid FROM pg_stat_activity WHERE starts_with(application_name, $1) AND pid <> pg_backend_pid()',
        [prefix],
      );
      return rows.map((r) => r.pid);
    },
    /** Runs one statement with `search_path` set to `schema` (the bench's own throw-away schema). */
    async queryIn(schema, sql, params = []) {
      await client.query(`SET search_path TO "${schema}"`);
      try {
        return (await client.query(sql, params)).rows;
      } finally {
        await client.query('SET search_path TO DEFAULT');
      }
    },
    async dropSchema(schema) {
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    },
    async close() {
      await client.end();
    },
  };
}
