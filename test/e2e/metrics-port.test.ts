import { spawn } from 'node:child_process';
import { request, Agent } from 'node:http';
import path from 'node:path';
import { freePort, waitFor } from '@aigw/testing';
import { ROOT, TestSystem, type AppProcess } from './harness';

/**
 * METRICS_PORT: the api-gateway's PORT is its public one (the Ingress' backend), and `/metrics` there told anyone who
 * reached it every provider, model, request count and cost. Set, `/metrics` moves to a port of its own, which only
 * the scraper is let reach (k8s/network-policy.yaml); unset, PORT serves it, as before.
 */

async function get(url: string, init: RequestInit = {}): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(url, init);
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

async function chat(system: TestSystem, base: string): Promise<void> {
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: system.headers(),
    body: JSON.stringify({ model: 'sim0/sim-gpt', messages: [{ role: 'user', content: 'hi' }] }),
  });
  expect(res.status).toBe(200);
  await res.arrayBuffer();
}

describe('METRICS_PORT', () => {
  const system = new TestSystem();
  let metricsPort: number;
  let separate: AppProcess;

  beforeAll(async () => {
    await system.start();
    metricsPort = await freePort();
    separate = await system.addReplica('api-gateway', { METRICS_PORT: String(metricsPort) });
  }, 120_000);

  afterAll(async () => {
    await system.stop();
  });

  it('unset: the public port serves /metrics, as before', async () => {
    const res = await get(`${system.gatewayUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.type).toContain('text/plain; version=0.0.4');
    expect(res.body).toContain('aigw_process_cpu_seconds_total');
  });

  it('set: /metrics is served on it, with the gateway’s own series, and no longer on the public port', async () => {
    const base = `http://127.0.0.1:${separate.port}`;
    await chat(system, base);
    const metrics = await get(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.type).toContain('text/plain; version=0.0.4');
    expect(metrics.body).toContain('aigw_process_cpu_seconds_total');
    expect(metrics.body).toMatch(/^aigw_requests_total\{[^}]*model="sim-gpt"[^}]*\} 1$/m);
    const head = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { method: 'HEAD' });
    expect(head.status).toBe(200);

    // On the public port: the gateway's own 404, as for any unknown route, without a key or with one.
    for (const headers of [{}, system.headers()]) {
      const pub = await get(`${base}/metrics`, { headers });
      expect(pub.status).toBe(404);
      expect(JSON.parse(pub.body)).toMatchObject({ error: { code: 'not_found' } });
      expect(pub.body).not.toContain('aigw_');
    }
    // The probes stay on the public port (the kubelet's and the load balancer's).
    expect((await get(`${base}/health/live`)).status).toBe(200);
    expect((await get(`${base}/health/ready`)).status).toBe(200);
    // ... and the API docs no longer list /metrics.
    const doc = JSON.parse((await get(`${base}/docs-json`)).body) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).not.toContain('/metrics');
    expect(Object.keys(doc.paths)).toContain('/health/ready');
  });

  it('set: the metrics port answers nothing but GET /metrics, in the error envelope', async () => {
    const other = await get(`http://127.0.0.1:${metricsPort}/v1/models`);
    expect(other.status).toBe(404);
    expect(JSON.parse(other.body)).toMatchObject({
      error: { code: 'not_found', type: expect.any(String), message: expect.any(String), param: null },
    });
    const post = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { method: 'POST', body: '{}' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect(((await post.json()) as { error: { code: string } }).error.code).toBe('method_not_allowed');
  });

  it("set: the gateway stops at once on SIGTERM, the scraper's keep-alive connection notwithstanding", async () => {
    const port = await freePort();
    const app = await system.addReplica('api-gateway', { METRICS_PORT: String(port) });
    // A scraper's connection: kept open between scrapes.
    const agent = new Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path: '/metrics', agent }, (res) => {
        res.resume();
        res.on('end', resolve);
      })
        .on('error', reject)
        .end();
    });
    const started = Date.now();
    app.child.kill('SIGTERM');
    expect(await app.exited).toBe(0);
    // SHUTDOWN_GRACE_MS is 5 s in these tests: a connection holding the close would show as its watchdog's exit.
    expect(Date.now() - started).toBeLessThan(4_000);
    agent.destroy();
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => null)) === null, {
      timeoutMs: 2_000,
      message: 'the metrics port still answers after the exit',
    });
  });

  it('equal to PORT: refused at boot, naming both', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [path.join(ROOT, 'dist/apps/api-gateway/src/main.js')], {
      cwd: ROOT,
      env: { ...system.baseEnv(), PORT: String(port), METRICS_PORT: String(port), HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).not.toBe(0);
    expect(output).toContain('METRICS_PORT must differ from PORT');
  });
});

describe('METRICS_PORT in the single process (ADR 0010)', () => {
  let metricsPort: number;
  let system: TestSystem;

  beforeAll(async () => {
    metricsPort = await freePort();
    system = new TestSystem({ topology: 'single', appEnv: { 'all-in-one': { METRICS_PORT: String(metricsPort) } } });
    await system.start();
  }, 120_000);

  afterAll(async () => {
    await system?.stop();
  });

  it("serves every hosted app's series there, and none on the public port", async () => {
    await chat(system, system.gatewayUrl);
    // The hosted worker's family, merged into the gateway's exposition (counted once its job has finished).
    await waitFor(async () => /^aigw_jobs_total\{/m.test((await get(`http://127.0.0.1:${metricsPort}/metrics`)).body), {
      timeoutMs: 5_000,
      message: "the worker's aigw_jobs_total is not on the metrics port",
    });
    expect((await get(`${system.gatewayUrl}/metrics`)).status).toBe(404);
  });
});
