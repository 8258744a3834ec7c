import net from 'node:net';
import { Controller, Get, Module } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { BaseEnv, createHttpApp, ShutdownModule } from '@aigw/platform';
import { waitFor } from '@aigw/testing';

@Controller()
class PingController {
  @Get('ping')
  ping(): { ok: true } {
    return { ok: true };
  }
}

@Module({ imports: [ShutdownModule], controllers: [PingController] })
class PingModule {}

/** A connection to the app, once its server has accepted it: what came back so far, and whether it was closed. */
async function accepted(
  app: NestFastifyApplication,
  port: number,
): Promise<{ socket: net.Socket; received: () => string; closed: () => boolean }> {
  const server = app.getHttpServer();
  const socket = net.connect(port, '127.0.0.1');
  const isAccepted = new Promise<void>((resolve) => {
    const onConnection = (peer: net.Socket): void => {
      if (peer.remotePort === socket.localPort) {
        server.off('connection', onConnection);
        resolve();
      }
    };
    server.on('connection', onConnection);
  });
  let received = '';
  let closed = false;
  socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
  socket.on('error', () => undefined).once('close', () => (closed = true));
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  await isAccepted;
  return { socket, received: () => received, closed: () => closed };
}

/**
 * Every app made by createHttpApp (router-worker's and health-monitor's health and metrics ports too, not only the
 * gateway's): its close is not held open by a connection that never carried a request (a load balancer's or fetch's
 * spare), nor by a client that sent half a request and stalled, which Node stops timing out once the server closes.
 * Without the drain, app.close() waited for them for good (the hard exit at SHUTDOWN_GRACE_MS in production).
 */
describe('the close of an app made by createHttpApp', () => {
  it('does not wait for a spare connection, nor for a request whose head stalls past the receive timeout', async () => {
    const opts = { host: '127.0.0.1', port: 0, receiveTimeoutMs: 1_000 };
    const app = await createHttpApp(PingModule, new BaseEnv(), 'connection-drain', opts, { handleSignals: false });
    const sockets: net.Socket[] = [];
    try {
      await app.listen(0, '127.0.0.1');
      const address = app.getHttpServer().address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      const [spare, stalled] = await Promise.all([accepted(app, port), accepted(app, port)]);
      sockets.push(spare.socket, stalled.socket);
      stalled.socket.write('GET /ping HTTP/1.1\r\nhost: loc');

      let closed = false;
      const closing = app.close().then(() => (closed = true));
      await waitFor(() => closed, { timeoutMs: 20_000, message: 'the app did not close' });
      await closing;
      await waitFor(() => spare.closed() && stalled.closed(), { message: 'the clients did not see their close' });
      expect(spare.received()).toBe('');
      expect(stalled.received()).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      sockets.forEach((s) => s.destroy());
    }
  }, 60_000);
});
