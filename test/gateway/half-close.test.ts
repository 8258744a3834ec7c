import { connect, type Socket } from 'node:net';
import { waitFor } from '@aigw/testing';
import { chat, GatewayHarness } from './support';

/**
 * A client that half-closes its socket once its request is sent (`nc -N`, `ncat`, `socat`: a FIN after the request)
 * gets its answer, except from a generation, where the FIN is taken as the client leaving (an aborted fetch sends the
 * same FIN) and the job is cancelled.
 */
describe('api-gateway: a client that half-closes after its request', () => {
  const h = new GatewayHarness();

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);

  /** Sends `request`, half-closes the socket at once, and reads everything until the server closes its side. */
  function halfClosed(request: string): Promise<string> {
    return h.raw(request, { halfClose: true });
  }

  function get(path: string): string {
    return `GET ${path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${h.adminKey}\r\n\r\n`;
  }

  it('is answered on routes that read the database or Redis (not only those answered in the same tick)', async () => {
    const models = await halfClosed(get('/v1/models'));
    expect(models).toMatch(/^HTTP\/1\.1 200 /);
    expect(models).toContain('"object":"list"');
    expect(await halfClosed(get('/health/ready'))).toMatch(/^HTTP\/1\.1 200 /);
    expect(await halfClosed(get('/api/v1/ai/admin/providers'))).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('is taken as leaving by a generation: its job is cancelled, as for a client that closed its socket', async () => {
    let jobId = '';
    h.handle(async (job) => {
      jobId = job.id ?? '';
      await h.cancelled(jobId, 5_000);
      return h.answer(job, 'too late');
    });
    const body = JSON.stringify(chat('half-closed'));
    const response = await halfClosed(
      `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${h.adminKey}\r\n` +
        `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    expect(response).toBe('');
    // The harness's worker takes the job when the host lets it (50 ms was not always enough under a full suite).
    await waitFor(() => jobId !== '', { timeoutMs: 5000, message: 'the worker takes the job' });
    expect(await h.cancelled(jobId, 5_000)).toBe(true);
    expect(h.cancels.find((c) => c.jobId === jobId)?.reason).toBe('client_disconnected');
  });

  it('a kept-alive connection serving many generations gathers no socket listeners', async () => {
    h.handle((job) => h.answer(job, 'ok'));
    const url = new URL(h.url);
    const body = JSON.stringify(chat('keep-alive'));
    const request =
      `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${h.adminKey}\r\n` +
      `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    let served: Socket | undefined;
    h.app.getHttpServer().once('connection', (s: Socket) => (served = s));
    const client = connect(Number(url.port), url.hostname);
    client.setEncoding('utf8');
    let got = '';
    client.on('data', (d: string) => (got += d));
    /** Sends the request and waits for its whole answer (a JSON body ending in its usage). */
    const exchange = async (): Promise<void> => {
      got = '';
      client.write(request);
      await waitFor(() => got.includes('"usage"') && got.endsWith('}}'), { intervalMs: 5 });
    };
    try {
      await exchange();
      const listeners = served?.listenerCount('end');
      for (let i = 0; i < 12; i++) {
        await exchange();
      }
      expect(served?.listenerCount('end')).toBe(listeners);
    } finally {
      client.destroy();
    }
  });
});
