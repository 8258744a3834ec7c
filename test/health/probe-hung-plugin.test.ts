import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdapterRegistry, HttpPool, probeRoute } from '@aigw/adapters';

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
