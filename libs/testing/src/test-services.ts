/**
 * Where the test suites find PostgreSQL and Redis: the machine's own services unless TEST_DATABASE_URL or
 * TEST_REDIS_URL say otherwise. Every suite isolates itself inside them (its own schema, key prefix, queue names).
 */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
