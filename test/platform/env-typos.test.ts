import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { misspelledVariables, variablesOf } from '@aigw/core';
import { loadEnvOrReport } from '@aigw/platform';
import { AllInOneEnv } from '../../apps/all-in-one/src/config/all-in-one-env';
import { GatewayEnv } from '../../apps/api-gateway/src/config/gateway-env';
import { MonitorEnv } from '../../apps/health-monitor/src/config/monitor-env';
import { WorkerEnv } from '../../apps/router-worker/src/config/worker-env';

/**
 * A misspelled variable (`REDIS_URI`) is ignored like any unrelated one and its default applies: the boot warns about
 * one a typo away from a variable the app reads, and about no variable another app, a deployment or the system sets.
 */
const ROOT = join(__dirname, '../..');
const SCHEMAS = [GatewayEnv, WorkerEnv, MonitorEnv, AllInOneEnv];

/** Every capitalised word of the deployment artefacts and the start script and simulator: what they may set. */
function deploymentWords(): string[] {
  const files = [
    'docker-compose.yml',
    'scripts/start.mjs',
    'tools/simulator/env.ts',
    ...readdirSync(join(ROOT, 'k8s')).map((f) => `k8s/${f}`),
  ];
  return [
    ...new Set(files.flatMap((f) => [...readFileSync(join(ROOT, f), 'utf8').matchAll(/\b[A-Z][A-Z0-9_]{2,}\b/g)])),
  ].map((m) => m[0]);
}

const asEnv = (names: string[]): Record<string, string> => Object.fromEntries(names.map((n) => [n, 'x']));

describe('misspelled environment variables', () => {
  it.each([
    [GatewayEnv, 'REDIS_URI', 'REDIS_URL'],
    [GatewayEnv, 'redis_url', 'REDIS_URL'],
    [GatewayEnv, 'CACHE_ENABLE', 'CACHE_ENABLED'],
    [GatewayEnv, 'DATABSE_URL', 'DATABASE_URL'],
    [GatewayEnv, 'DATABASE_SCEMA', 'DATABASE_SCHEMA'],
    [GatewayEnv, 'PROT', 'PORT'],
    [GatewayEnv, 'OPENAI_APIKEY', 'OPENAI_API_KEY'],
    [WorkerEnv, 'WORKER_CONCURENCY', 'WORKER_CONCURRENCY'],
    [MonitorEnv, 'HEALTH_INTERVAL', 'HEALTH_INTERVAL_S'],
  ])('%p: %s is taken for %s', (schema, variable, intended) => {
    expect(misspelledVariables([schema], { [variable]: 'value', HOME: '/root' })).toEqual([{ variable, intended }]);
  });

  it('finds the names among the env classes themselves', () => {
    expect(variablesOf(GatewayEnv)).toEqual(expect.arrayContaining(['REDIS_URL', 'CB_OPEN_MS', 'CACHE_ENABLED']));
  });

  it('warns about no variable another app, a deployment, the start script or the system sets', () => {
    const others = [
      ...SCHEMAS.flatMap(variablesOf),
      ...deploymentWords(),
      ...['HOME', 'PATH', 'PWD', 'HOSTNAME', 'SHELL', 'USER', 'TERM', 'LANG', 'TZ', 'NODE_VERSION', 'YARN_VERSION'],
      ...['NODE_OPTIONS', 'NODE_PATH', 'NODE_EXTRA_CA_CERTS', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'CI'],
      ...['KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT', 'REDIS_PORT', 'REDIS_SERVICE_HOST', 'POSTGRES_PORT'],
    ];
    for (const schema of SCHEMAS) {
      expect([schema.name, misspelledVariables([schema], asEnv(others))]).toEqual([schema.name, []]);
    }
  });

  it('warns at boot naming the variable and the one it likely means, never its value', () => {
    const writes: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
    const saved = { ...process.env };
    try {
      process.env.REDIS_URI = 'redis://:s3cret-value@10.0.0.1:6379/0';
      expect(loadEnvOrReport(GatewayEnv, 'api-gateway')).not.toBeNull();
      expect(loadEnvOrReport(WorkerEnv, 'router-worker')).not.toBeNull();
    } finally {
      process.env = saved;
      spy.mockRestore();
    }
    const warnings = writes.filter((w) => w.includes('REDIS_URI'));
    // Once per process, though the single process checks the environment once per app.
    expect(warnings).toEqual([
      '[api-gateway] warning: REDIS_URI is not a variable the api-gateway reads (ignored): did you mean REDIS_URL?\n',
    ]);
    expect(writes.join('')).not.toContain('s3cret-value');
  });
});
