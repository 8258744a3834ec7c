import { HOUR_MS, validateEnv } from '@aigw/core';
import { loadEnvOrReport, shutdownBudget, type RequestDeadlineEnv } from '@aigw/platform';
import { GatewayEnv } from '../../apps/api-gateway/src/config/gateway-env';
import { MonitorEnv } from '../../apps/health-monitor/src/config/monitor-env';
import { WorkerEnv } from '../../apps/router-worker/src/config/worker-env';

/**
 * SHUTDOWN_GRACE_MS and REQUEST_TIMEOUT_MS as the apps read them with nothing else set. The grace's bare default
 * (25 s) was below the deadline's (120 s): a gateway or worker stopped with its defaults (npm start, a container
 * without the k8s ConfigMap) cut every request running past ~23 s with a 503, well within its deadline. Only the
 * manifests' override hid it.
 */
describe('the default shutdown grace of the apps that hold requests', () => {
  const holding: [string, new () => RequestDeadlineEnv][] = [
    ['api-gateway', GatewayEnv],
    ['router-worker', WorkerEnv],
  ];

  it.each(holding)('lets the %s drain for the whole request deadline with its defaults', (_, schema) => {
    const env = validateEnv(schema, {});
    expect(shutdownBudget(env.SHUTDOWN_GRACE_MS).drainMs).toBeGreaterThanOrEqual(env.REQUEST_TIMEOUT_MS);
    // The defaults' value: what k8s/configmap.yaml sets explicitly, and what docker-compose.yml leaves to it.
    expect(env.SHUTDOWN_GRACE_MS).toBe(125_000);
    // The schema's own instance (what the README table is checked against) says the same.
    expect(new schema().SHUTDOWN_GRACE_MS).toBe(125_000);
  });

  it.each(holding)("follows the %s's REQUEST_TIMEOUT_MS when it is set alone, up to its longest", (_, schema) => {
    for (const timeoutMs of [1_000, 300_000, HOUR_MS]) {
      const env = validateEnv(schema, { REQUEST_TIMEOUT_MS: String(timeoutMs) });
      expect(env.REQUEST_TIMEOUT_MS).toBe(timeoutMs);
      expect(shutdownBudget(env.SHUTDOWN_GRACE_MS).drainMs).toBeGreaterThanOrEqual(timeoutMs);
    }
  });

  it.each(holding)('keeps the grace the %s is given, shorter than the deadline or not', (_, schema) => {
    expect(validateEnv(schema, { SHUTDOWN_GRACE_MS: '2000' }).SHUTDOWN_GRACE_MS).toBe(2_000);
    expect(validateEnv(schema, { SHUTDOWN_GRACE_MS: '0', REQUEST_TIMEOUT_MS: '5000' }).SHUTDOWN_GRACE_MS).toBe(0);
  });

  it.each(holding)('reports a bad REQUEST_TIMEOUT_MS of the %s as such, not as a grace it derived', (_, schema) => {
    expect(() => validateEnv(schema, { REQUEST_TIMEOUT_MS: 'soon' })).toThrow(
      /^Invalid environment variables:\n {2}- REQUEST_TIMEOUT_MS: must be a number, got "soon"$/,
    );
  });

  it('leaves the health-monitor, which holds no request, its short grace', () => {
    expect(validateEnv(MonitorEnv, { REQUEST_TIMEOUT_MS: '300000' }).SHUTDOWN_GRACE_MS).toBe(25_000);
  });
});

describe('a SHUTDOWN_GRACE_MS given shorter than the request deadline', () => {
  /** What the boot's environment check writes to stderr with `vars` set (on top of the test's own environment). */
  function bootWarnings(vars: Record<string, string>): string[] {
    const writes: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
    const saved = { ...process.env };
    try {
      delete process.env.SHUTDOWN_GRACE_MS;
      delete process.env.REQUEST_TIMEOUT_MS;
      Object.assign(process.env, vars);
      // The single process checks the environment once per app it hosts.
      expect(loadEnvOrReport(GatewayEnv, 'api-gateway')).not.toBeNull();
      expect(loadEnvOrReport(WorkerEnv, 'router-worker')).not.toBeNull();
      expect(loadEnvOrReport(MonitorEnv, 'health-monitor')).not.toBeNull();
    } finally {
      process.env = saved;
      spy.mockRestore();
    }
    return writes.filter((w) => w.includes('SHUTDOWN_GRACE_MS'));
  }

  it('is taken, with one warning at boot naming both values; a derived or long enough grace gets none', () => {
    expect(bootWarnings({})).toEqual([]);
    expect(bootWarnings({ REQUEST_TIMEOUT_MS: '300000' })).toEqual([]);
    expect(bootWarnings({ REQUEST_TIMEOUT_MS: '120000', SHUTDOWN_GRACE_MS: '125000' })).toEqual([]);
    // k8s/configmap.yaml's pair with only the deadline raised: the grace left behind.
    expect(bootWarnings({ REQUEST_TIMEOUT_MS: '300000', SHUTDOWN_GRACE_MS: '125000' })).toEqual([
      '[api-gateway] warning: SHUTDOWN_GRACE_MS=125000 lets in-flight requests run 123000 ms after SIGTERM, less than ' +
        'REQUEST_TIMEOUT_MS=300000: a stop cuts longer ones with a retryable 503. Unset it (its default is 305000) or ' +
        'raise it, with the time your orchestrator waits before killing.\n',
    ]);
  });
});
