import { connect, type Socket } from 'node:net';
import { Logger } from '@nestjs/common';
import { waitFor } from '@aigw/testing';
import { chat, GatewayHarness, sleep, sseEvents, type ErrorEnvelope } from './support';

/** Clients that send slowly, or keep their connections: the gateway's HTTP timeouts. */
describe('api-gateway and slow clients', () => {
  const h = new GatewayHarness({ HTTP_RECEIVE_TIMEOUT_MS: '1000', HTTP_KEEP_ALIVE_TIMEOUT_MS: '75000' });

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);

  /** A connection to the gateway that collects what comes back; `closed` resolves with it once the server closes. */
  function open(): Promise<{ socket: Socket; closed: Promise<string> }> {
    const url = new URL(h.url);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname);
      let got = '';
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => (got += d));
      const closed = new Promise<string>((done) => socket.on('close', () => done(got)));
      socket.once('connect', () => resolve({ socket, closed }));
      socket.once('error', reject);
    });
  }

  /** `closed`, or a failure once the server has kept the connection far longer than the receive timeout. */
  async function closedByServer(closed: Promise<string>, socket: Socket): Promise<string> {
    const gaveUp = sleep(20_000).then(() => null);
    const got = await Promise.race([closed, gaveUp]);
    socket.destroy();
    if (got === null) {
      throw new Error('the gateway kept the connection open');
    }
    return got;
  }

  function head(body: string, contentLength: number): string {
    return (
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${h.adminKey}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${contentLength}\r\n\r\n${body}`
    );
  }

  function envelopeOf(response: string): ErrorEnvelope {
    return JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)) as ErrorEnvelope;
  }

  it('closes with a 408 in the envelope a request whose body never arrives', async () => {
    const { socket, closed } = await open();
    socket.write(head('', 100));
    const response = await closedByServer(closed, socket);
    expect(response).toMatch(/^HTTP\/1\.1 408 /);
    expect(envelopeOf(response).error.code).toBe('invalid_request');
  });

  it('closes a request whose body trickles in slower than the receive timeout allows', async () => {
    const { socket, closed } = await open();
    socket.write(head('{', 1000));
    const trickle = setInterval(() => socket.writable && socket.write(' '), 200);
    try {
      expect(await closedByServer(closed, socket)).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      clearInterval(trickle);
    }
  });

  it('does not bound the answer: a stream that outlasts the receive timeout reaches its end', async () => {
    h.handle(async (job) => {
      await sleep(1500);
      return h.answer(job, 'slow but whole');
    });
    const res = await h.post('/v1/chat/completions', chat('x', { stream: true }));
    expect(res.status).toBe(200);
    const { events } = await sseEvents(res);
    expect(events.at(-1)?.data).toBe('[DONE]');
  });

  it('keeps an idle connection for the configured keep-alive timeout, and says so', async () => {
    const { socket, closed } = await open();
    socket.write('GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n');
    // Longer than the receive timeout: that one bounds a request's arrival, not the wait for the next request.
    await sleep(2000);
    socket.write('GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const response = await closed;
    expect(response.match(/HTTP\/1\.1 200 /g)).toHaveLength(2);
    expect(response).toMatch(/\r\nKeep-Alive: timeout=75\r\n/);
  });

  it('takes a client that left in the middle of its body for a client that left, not for a store outage', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn');
    try {
      const before = await clientsGone();
      const { socket, closed } = await open();
      socket.write(head('{"model":', 100));
      await sleep(100);
      socket.destroy();
      await closed;
      await waitFor(async () => (await clientsGone()) > before, { message: 'the request was not counted' });
      // The error path of the broken body runs as the connection closes, with the count or just after it.
      await h.get('/health/live', {});
      const warnings = warn.mock.calls.map((args) => String(args[0]));
      expect(warnings.filter((w) => w.includes('unavailable'))).toEqual([]);
    } finally {
      warn.mockRestore();
    }
  });

  /** How many chat completion requests ended with their client gone (`499`). */
  async function clientsGone(): Promise<number> {
    const metrics = await (await h.get('/metrics', {})).text();
    const line = /^aigw_http_requests_total\{route="\/v1\/chat\/completions",method="POST",status="499"\} (\d+)$/m.exec(
      metrics,
    );
    return line === null ? 0 : Number(line[1]);
  }
});
