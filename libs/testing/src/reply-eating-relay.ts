import net from 'node:net';
import { freePort } from './free-port';
import { TEST_REDIS_URL } from './test-services';

/** `target` (a server's URL) with the relay on `port` of 127.0.0.1 in place of the server. */
export function viaRelay(target: string, port: number): string {
  const u = new URL(target);
  u.hostname = '127.0.0.1';
  u.port = String(port);
  return u.toString();
}

/**
 * A relay to the tests' Redis that forwards the client's commands but, once `holdReplies` is set, swallows Redis'
 * answers: a script runs, its reply never comes back. `drop` then closes the connections, as a network failure
 * does, and the client reconnects through the relay (ioredis then sends the unanswered commands again). `refuse`
 * closes the relay's port until `accept`: reconnections fail, and ioredis gives up on the commands it holds once it
 * has tried `maxRetriesPerRequest` times more (the caller gets an error, though Redis may have run them).
 */
export class ReplyEatingRelay {
  holdReplies = false;
  port = 0;
  private readonly sockets = new Set<net.Socket>();
  private server: net.Server | null = null;

  constructor(private readonly target: string = TEST_REDIS_URL) {}

  async open(): Promise<void> {
    this.port = await freePort();
    this.server = this.relay();
    await this.listen();
  }

  /** New connections are refused (the port is closed at once) until `accept`; open ones carry on. */
  refuse(): void {
    this.server?.close();
  }

  /** The relay takes connections again, on its port. */
  async accept(): Promise<void> {
    this.server = this.relay();
    await this.listen();
  }

  private async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.listen(this.port, '127.0.0.1', resolve));
  }

  private relay(): net.Server {
    const target = new URL(this.target);
    return net.createServer((client) => {
      const upstream = net.connect(Number(target.port || 6379), target.hostname);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => this.sockets.delete(s));
      }
      client.pipe(upstream);
      upstream.on('data', (d: Buffer) => this.holdReplies || client.write(d));
      upstream.on('close', () => client.destroy());
      client.on('close', () => upstream.destroy());
    });
  }

  drop(): void {
    this.holdReplies = false;
    for (const s of this.sockets) {
      s.destroy();
    }
  }

  /** The target's URL with the relay's address in place of the server's. */
  url(): string {
    return viaRelay(this.target, this.port);
  }

  async close(): Promise<void> {
    this.drop();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}
