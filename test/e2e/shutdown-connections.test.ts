import net from 'node:net';
import { TestSystem } from './harness';

/**
 * SIGTERM while a client holds a connection to the gateway it never sent a request on (a load balancer's spare, or
 * the one fetch opens ahead of its next request). Node counts such a connection as a request in progress, so the
 * server's close waited for it until the watchdog's hard exit at SHUTDOWN_GRACE_MS: every rolling restart took the
 * whole grace period and exited 1.
 */
const GRACE_MS = 30_000;

describe('gateway SIGTERM with a connection that never carried a request (e2e)', () => {
  const system = new TestSystem({ env: { SHUTDOWN_GRACE_MS: String(GRACE_MS) } });

  beforeAll(async () => {
    await system.start();
  }, 90_000);

  afterAll(() => system.stop(), 30_000);

  it(
    'closes it and exits 0, not by the hard exit at the end of the grace period',
    async () => {
      const [gateway] = system.gateways();
      const spare = net.connect(gateway.port, '127.0.0.1');
      let received = '';
      spare.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
      spare.on('error', () => undefined);
      const closed = new Promise<void>((resolve) => spare.once('close', () => resolve()));
      await new Promise<void>((resolve, reject) => spare.once('connect', resolve).once('error', reject));
      // A request on a connection made after it: answered, the server has accepted the spare too (it came first), so
      // the close below must deal with it (a connection still in the listen backlog would be refused with the port).
      expect((await fetch(`http://127.0.0.1:${gateway.port}/health/live`)).status).toBe(200);

      gateway.child.kill('SIGTERM');
      const code = await gateway.exited;
      const output = gateway.output.join('');
      expect({ code, forced: output.includes('shutdown not finished') }).toEqual({ code: 0, forced: false });
      await closed;
      expect(received).toBe('');
    },
    GRACE_MS * 2,
  );
});

/**
 * SIGTERM while a client has sent half a request head and stalls. Node stops enforcing the receive timeouts
 * (HTTP_RECEIVE_TIMEOUT_MS) once the server closes: the close waited for that client until the hard exit.
 */
describe('gateway SIGTERM with a request whose head stalls (e2e)', () => {
  const system = new TestSystem({ env: { SHUTDOWN_GRACE_MS: String(GRACE_MS), HTTP_RECEIVE_TIMEOUT_MS: '2000' } });

  beforeAll(async () => {
    await system.start();
  }, 90_000);

  afterAll(() => system.stop(), 30_000);

  it(
    'answers it 408 once the receive timeout has passed and exits 0, not by the hard exit',
    async () => {
      const [gateway] = system.gateways();
      const stalled = net.connect(gateway.port, '127.0.0.1');
      let received = '';
      stalled.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
      stalled.on('error', () => undefined);
      const closed = new Promise<void>((resolve) => stalled.once('close', () => resolve()));
      await new Promise<void>((resolve, reject) => stalled.once('connect', resolve).once('error', reject));
      // Accepted before the port closes: a request on a connection made after it is answered.
      expect((await fetch(`http://127.0.0.1:${gateway.port}/health/live`)).status).toBe(200);
      stalled.write('GET /health/live HTTP/1.1\r\nhost: loc');

      gateway.child.kill('SIGTERM');
      const code = await gateway.exited;
      const output = gateway.output.join('');
      expect({ code, forced: output.includes('shutdown not finished') }).toEqual({ code: 0, forced: false });
      await closed;
      expect(received).toMatch(/^HTTP\/1\.1 408 /);
    },
    GRACE_MS * 2,
  );
});
