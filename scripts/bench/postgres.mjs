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
    async dropSchema(schema) {
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    },
    async close() {
      await client.end();
    },
  };
}
