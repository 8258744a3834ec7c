import { request as httpRequest, type ClientRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitFor } from '@aigw/testing';
import Fastify, { type FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { CLIENT_CLOSED_STATUS, HttpMetrics } from './http-metrics';
import { installRequestContext } from './request-context';

/** `aigw_http_requests_total` by its labels, as the registry holds it. */
async function counted(registry: Registry, route: string, status: number): Promise<number> {
  const families = await registry.getMetricsAsJSON();
  const family = families.find((f) => f.name === 'aigw_http_requests_total');
  const sample = family?.values.find((v) => v.labels.route === route && v.labels.status === String(status));
  return sample?.value ?? 0;
}

async function durations(registry: Registry, route: string): Promise<number> {
  const families = await registry.getMetricsAsJSON();
  const family = families.find((f) => f.name === 'aigw_http_request_duration_seconds');
  const sample = family?.values.find(
    (v) => v.labels.route === route && (v as { metricName?: string }).metricName?.endsWith('_count'),
  );
  return sample?.value ?? 0;
}

describe('HttpMetrics', () => {
  let app: FastifyInstance;
  let registry: Registry;
  let base: string;
  /** Released when a test is over, so no handler outlives it. */
  let release: () => void = () => undefined;
  const released = new Promise<void>((r) => (release = r));
  /** Called when /slow has the request. */
  let entered: () => void = () => undefined;

  beforeAll(async () => {
    registry = new Registry();
    app = Fastify();
    installRequestContext(app);
    new HttpMetrics(registry).install(app);
    app.get('/answered', () => Promise.resolve({ ok: true }));
    // Answers only once the test is over: its client leaves before.
    app.get('/slow', async () => {
      entered();
      await released;
      return { late: true };
    });
    // A hijacked stream (as the SSE sink writes one) that sends its head and a first event, then nothing more.
    app.get('/stream', (_req, reply) => {
      reply.hijack();
      reply.raw.writeHead(200, { 'content-type': 'text/event-stream' });
      reply.raw.write('data: first\n\n');
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    release();
    await app.close();
  });

  it('counts an answered request once, by route pattern and status', async () => {
    const before = await counted(registry, '/answered', 200);
    expect((await fetch(`${base}/answered`)).status).toBe(200);
    // A later request on the connection is counted after everything of the first (its close follows its finish).
    const others = await counted(registry, 'unmatched', 404);
    expect((await fetch(`${base}/nowhere`)).status).toBe(404);
    await waitFor(async () => (await counted(registry, 'unmatched', 404)) === others + 1);
    expect(await counted(registry, '/answered', 200)).toBe(before + 1);
  });

  it('counts a request whose client left before the answer began as 499', async () => {
    const before = await durations(registry, '/slow');
    const handled = new Promise<void>((r) => (entered = r));
    const req = httpRequest(`${base}/slow`);
    req.on('error', () => undefined);
    req.end();
    // Once the server's handler has the request (and waits), the client goes away.
    await handled;
    req.destroy();
    expect(await waitFor(async () => (await counted(registry, '/slow', CLIENT_CLOSED_STATUS)) === 1)).toBe(true);
    expect(await durations(registry, '/slow')).toBe(before + 1);
  });

  it('counts a stream its client stopped, by the status it was sent', async () => {
    const before = await counted(registry, '/stream', 200);
    let client: ClientRequest | undefined;
    await new Promise<void>((resolve, reject) => {
      client = httpRequest(`${base}/stream`, (res) => {
        res.once('data', () => resolve());
      });
      client.on('error', reject);
      client.end();
    });
    client?.on('error', () => undefined);
    client?.destroy();
    expect(await waitFor(async () => (await counted(registry, '/stream', 200)) === before + 1)).toBe(true);
    expect(await counted(registry, '/stream', CLIENT_CLOSED_STATUS)).toBe(0);
  });
});
