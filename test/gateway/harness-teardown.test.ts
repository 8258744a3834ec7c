import { connect, type Socket } from 'node:net';
import { GatewayHarness } from './support';

/**
 * The harness's own teardown. fetch opens a spare connection to the app when a request is aborted mid-response and
 * sends nothing on it; the HTTP server's close waited for such a connection, so a file run down to its one
 * client-disconnect test hung in afterAll (in the whole file, the next test used it). The gateway's
 * ConnectionDrainer (libs/platform) closes it, as it does in production (test/gateway/shutdown.test.ts).
 */
describe('GatewayHarness.stop', () => {
  it('closes the app though a client holds a connection it never sent a request on', async () => {
    const h = await new GatewayHarness().start();
    const url = new URL(h.url);
    const socket: Socket = await new Promise((resolve, reject) => {
      const s = connect(Number(url.port), url.hostname, () => resolve(s));
      s.once('error', reject);
    });
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined);
    await h.stop();
    await closed;
    expect(socket.destroyed).toBe(true);
    // Without the drainer closing that connection, stop() waits for its client to close it: the timeout fails here.
  }, 20_000);
});
