import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';

/**
 * `docker compose --profile prometheus up` (with or without `--profile single`): the bundled Prometheus scrapes the
 * /metrics of every app the chosen deployment runs, and nothing that deployment does not run.
 */
const ROOT = join(__dirname, '../..');

interface Service {
  command?: string[];
  ports?: string[];
  profiles?: string[];
  environment?: Record<string, string>;
}

interface ScrapeJob {
  job_name: string;
  static_configs?: { targets: string[] }[];
  dns_sd_configs?: { names: string[]; type?: string; port?: number }[];
}

const compose = load(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, Service> };
const prometheus = load(readFileSync(join(ROOT, 'deploy/prometheus.yml'), 'utf8')) as { scrape_configs: ScrapeJob[] };

/** The services running one of the apps (each serves /metrics on its METRICS_PORT, else its PORT), with that port. */
const apps = Object.entries(compose.services)
  .filter(([, s]) => (s.command ?? []).some((arg) => /^dist\/apps\/[^/]+\/src\/main\.js$/.test(arg)))
  .map(([name, s]) => ({
    name,
    port: Number(s.environment?.METRICS_PORT ?? s.environment?.PORT),
    published: (s.ports ?? []).map((p) => Number(p.split(':').at(-2))),
    profiles: s.profiles ?? [],
  }));

/** Every service:port a job may scrape. */
function targets(job: ScrapeJob): string[] {
  return [
    ...(job.static_configs ?? []).flatMap((c) => c.targets),
    ...(job.dns_sd_configs ?? []).flatMap((c) => c.names.map((n) => `${n}:${c.port}`)),
  ];
}

describe('docker compose and its Prometheus', () => {
  it('know the apps of both deployments, the single process among them', () => {
    expect(apps.map((a) => a.name).sort()).toEqual(['all-in-one', 'api-gateway', 'health-monitor', 'router-worker']);
  });

  it.each(apps.map((a) => [a.name, a]))('scrape %s at its METRICS_PORT, else its PORT', (_, app) => {
    const jobs = prometheus.scrape_configs.filter((job) => targets(job).includes(`${app.name}:${app.port}`));
    expect(jobs.map((j) => j.job_name)).toEqual([app.name]);
  });

  it('publish no port that serves /metrics: the published ones are the API', () => {
    const published = apps.filter((a) => a.published.length > 0);
    expect(published.map((a) => a.name).sort()).toEqual(['all-in-one', 'api-gateway']);
    for (const app of published) {
      expect({ app: app.name, published: app.published }).not.toEqual({
        app: app.name,
        published: expect.arrayContaining([app.port]),
      });
    }
  });

  it('find the apps by DNS, so that the deployment not started has no target, rather than one always down', () => {
    for (const job of prometheus.scrape_configs) {
      expect(job.static_configs ?? []).toEqual([]);
      expect(job.dns_sd_configs?.every((c) => c.type === 'A')).toBe(true);
    }
  });
});
