import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';

/**
 * `docker compose up` starts the apps once PostgreSQL is healthy (depends_on: service_healthy). On a new volume the
 * postgres image first runs a temporary server for its initialisation (POSTGRES_DB, init scripts) that listens on its
 * Unix socket alone (`listen_addresses=''`), then stops it and starts the real one. `pg_isready` without a host asks
 * that socket: healthy during the initialisation, the apps were started against a server that refused every TCP
 * connection, and then went away. Over TCP (`-h 127.0.0.1`), the check passes only for the server the apps reach.
 */
const ROOT = join(__dirname, '../..');

interface Service {
  healthcheck?: { test: string[] | string };
  depends_on?: Record<string, { condition: string }>;
}

const compose = load(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, Service> };

describe("docker compose's PostgreSQL", () => {
  it('is healthy only once it takes TCP connections, as the apps make them', () => {
    const test = compose.services.postgres.healthcheck?.test ?? [];
    const words = (Array.isArray(test) ? test : ['CMD-SHELL', test]).join(' ').split(/\s+/);
    expect(words).toContain('pg_isready');
    const host = words.findIndex((w) => w === '-h' || w === '--host');
    expect(host >= 0 ? words[host + 1] : undefined).toMatch(/^(127\.0\.0\.1|localhost)$/);
  });

  it('is waited for, healthy, by every app', () => {
    for (const name of ['api-gateway', 'router-worker', 'health-monitor', 'all-in-one']) {
      expect([name, compose.services[name].depends_on?.postgres?.condition]).toEqual([name, 'service_healthy']);
    }
  });
});
