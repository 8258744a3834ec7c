import net from 'node:net';
import { freePort } from './free-port';
import { viaRelay } from './reply-eating-relay';
import { TEST_DATABASE_URL } from './test-services';

/** PostgreSQL's ReadyForQuery message ('Z', length 5): the server has finished (and committed) what it was sent. */
const READY_FOR_QUERY = Buffer.from([0x5a, 0, 0, 0, 5]);

/**
 * A relay to the test PostgreSQL that loses a statement's reply: once armed with `dropReplyTo(marker)`, the next
 * client message containing `marker` (e.g. `COMMIT`, or a statement run in autocommit) goes through to the server,
 * whose answers are swallowed until it says it is ready for the next query (so the statement ran and committed);
 * then both ends are cut, as a network failure between the server's commit and its reply reaching the client. The
 * client sees an error for work the server did. Other connections and later ones carry on normally.
 */
export class CommitReplyDroppingRelay {
  port = 0;
  /** Replies dropped so far. */
  dropped = 0;
  private marker: Buffer | null = null;
  private readonly sockets = new Set<net.Socket>();
  private server: net.Server | null = null;

  constructor(private readonly target: string = TEST_DATABASE_URL) {}

  async open(): Promise<void> {
    const target = new URL(this.target);
    this.port = await freePort();
    this.server = net.createServer((client) => {
      const upstream = net.connect(Number(target.port || 5432), target.hostname);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => this.sockets.delete(s));
      }
      // Set once this connection sent the marked message: its replies are held back from then on.
      let eating = false;
      let eaten = Buffer.alloc(0);
      client.on('data', (d: Buffer) => {
        if (this.marker !== null && d.includes(this.marker)) {
          this.marker = null;
          eating = true;
        }
        upstream.write(d);
      });
      upstream.on('data', (d: Buffer) => {
        if (!eating) {
          client.write(d);
          return;
        }
        eaten = Buffer.concat([eaten, d]);
        if (eaten.includes(READY_FOR_QUERY)) {
          this.dropped++;
          client.destroy();
          upstream.destroy();
        }
      });
      upstream.on('close', () => client.destroy());
      client.on('close', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => this.server?.listen(this.port, '127.0.0.1', resolve));
  }

  /** The next message sent that contains `marker` (any connection) runs, but its reply is lost with its connection. */
  dropReplyTo(marker: string): void {
    this.marker = Buffer.from(marker);
  }

  /** The target's URL with the relay's address in place of the server's. */
  url(): string {
    return viaRelay(this.target, this.port);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) {
      s.destroy();
    }
    await new Promise((resolve) => this.server?.close(resolve));
  }
}
