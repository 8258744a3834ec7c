import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdapterRegistry, HttpPool, probeRoute } from '@aigw/adapters';
import type { ProviderSpec } from '@aigw/core';
import type { CatalogService } from '@aigw/platform';
import type { MonitorEnv } from '../../apps/health-monitor/src/config/monitor-env';
import { Prober } from '../../apps/health-monitor/src/health/prober';

/**
 * A probe is bounded by its timeout even when the adapter does not bound itself: a provider plugin whose health
 * check (or one-token completion) never settles, ignoring the abort signal, held its probe job (and one of the
 * monitor's HEALTH_CONCURRENCY slots) for good; a few intervals later no provider was probed at all.
 */
describe('probeRoute: an adapter that never answers', () => {
  let dir: string;
  let plugin: string;
  const pool = new HttpPool();
  const adapters = new AdapterRegistry(pool);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hung-plugin-'));
    plugin = join(dir, 'hung.js');
    const never = '() => new Promise(() => undefined)';
    writeFileSync(
      plugin,
      `module.exports = { createAdapter: () => ({ generate: ${never}, stream: async function* () {}, ` +
        `listModels: ${never}, healthCheck: ${never}, classifyError: (e) => e }) };`,
    );
  });
  afterAll(async () => {
    await pool.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([undefined, 'completion' as const])('times the probe out (probe: %s)', async (probe) => {
    const started = Date.now();
    const result = await Promise.race([
      probeRoute({
        adapters,
        provider: {
          id: 'hung',
          kind: 'plugin',
          plugin,
          baseUrl: 'http://127.0.0.1:1/v1',
          models: ['m1'],
          ...(probe === undefined ? {} : { probe }),
        },
        route: 'direct',
        timeoutMs: 300,
      }),
      new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 3000)),
    ]);
    expect(result).toMatchObject({ route: 'direct', ok: false, errorClass: 'timeout' });
    expect(Date.now() - started).toBeLessThan(1500);
  });
});

/** Model discovery through a plugin whose listModels never settles: the job ends, rejected as a timeout. */
describe('Prober.listModels: an adapter that never answers', () => {
  let dir: string;
  let prober: Prober;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hung-list-'));
    const never = '() => new Promise(() => undefined)';
    writeFileSync(
      join(dir, 'hung.js'),
      `module.exports = { createAdapter: () => ({ generate: ${never}, stream: async function* () {}, ` +
        `listModels: ${never}, healthCheck: ${never}, classifyError: (e) => e }) };`,
    );
    const catalog = { checkBeforeSeed: () => undefined, onReload: () => undefined } as unknown as CatalogService;
    prober = new Prober({ PROBE_TIMEOUT_MS: 300, PROVIDER_ALLOW_LINK_LOCAL: false } as MonitorEnv, catalog);
  });
  afterAll(async () => {
    await prober.onApplicationShutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it('rejects as a timeout within PROBE_TIMEOUT_MS', async () => {
    const provider = {
      id: 'hung',
      kind: 'plugin',
      plugin: join(dir, 'hung.js'),
      baseUrl: 'http://127.0.0.1:1/v1',
      timeoutMs: 5000,
      routing: 'direct',
      models: [],
    } as unknown as ProviderSpec;
    const started = Date.now();
    const outcome = await Promise.race([
      prober.listModels(provider, 'direct', []).then(
        () => 'listed',
        (err: Error) => err.message,
      ),
      new Promise<string>((resolve) => setTimeout(() => resolve('hung'), 3000)),
    ]);
    expect(outcome).toMatch(/no model list within 300 ms/);
    expect(Date.now() - started).toBeLessThan(1500);
  });
});
