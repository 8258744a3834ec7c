import { createDataSourceOptions, databaseUnavailable } from '@aigw/entities';
import { DataSource } from 'typeorm';
import { DATABASE_URL, openDataSource } from './pg';

/**
 * A PostgreSQL at its connection limit ("too many clients already", or a role's CONNECTION LIMIT: SQLSTATE 53300)
 * is there but cannot take the connection now: as for one that is down, a boot retries and a request gets a
 * retryable 503, not a boot that blames DATABASE_URL or a 500 internal_error.
 */
describe('a PostgreSQL that refuses connections for its connection limit', () => {
  // Roles are the server's, not a schema's: a name no other run uses, dropped after.
  const role = `t_capped_${process.pid}_${Date.now()}`;
  let admin: DataSource;

  beforeAll(async () => {
    admin = await openDataSource('public', 1);
    await admin.query(`CREATE ROLE "${role}" LOGIN CONNECTION LIMIT 0`);
  });

  afterAll(async () => {
    await admin.query(`DROP ROLE IF EXISTS "${role}"`);
    await admin.destroy();
  });

  it('counts as unavailable', async () => {
    const url = new URL(DATABASE_URL);
    url.username = role;
    url.password = '';
    const capped = new DataSource(createDataSourceOptions({ url: url.toString(), schema: 'public', poolSize: 1 }));
    const failure: unknown = await capped.initialize().then(
      () => null,
      (err: unknown) => err,
    );
    expect(failure).toMatchObject({ code: '53300' });
    expect(databaseUnavailable(failure)).toBe(true);
  });
});
