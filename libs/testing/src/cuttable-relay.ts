import net from 'node:net';
import { freePort } from './free-port';
import { TEST_DATABASE_URL } from './test-services';

/**
 * A TCP relay to the test PostgreSQL that the test can cut (the shared server must never be stopped): the pool behind
 * it then meets refused connections and connections ended mid-use, as in a real outage.
 */
export class CuttableRelay {
  private readonly sockets = new Set<net.Socket>();
  private server: net.Server | null = null;
  port = 0;

  constructor(private readonly target: string = TEST_DATABASE_URL) {}

  async open(): Promise<void> {
    if (this.server !== null) {
      return;
    }
    const target = new URL(this.target);
    this.port ||= await freePort();
    const server = net.createServer((client) => {
      const upstream = net.connect(Number(target.port || 5432), target.hostname);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.server = server;
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) {
      s.destroy();
    }
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }

  /** The target's URL with the relay's address in place of the server's. */
  url(): string {
    const u = new URL(this.target);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }
}
