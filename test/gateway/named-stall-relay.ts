import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP relay in front of Redis that can silence the connections of one client name only (ioredis sends
 * CLIENT SETNAME first; the gateway names each of its connections): a half-open network on that connection alone
 * (nothing closed, nothing forwarded either way), while the others carry on. `cut` then closes the silenced ones,
 * as the client's socket timeout would, and lets their reconnections through.
 */
export class NamedStallRelay {
  private server: Server | undefined;
  private readonly pairs = new Set<{ client: Socket; upstream: Socket; name: string | null }>();
  private silenced: string | null = null;
  private readonly dead = new Set<Socket>();

  constructor(private readonly targetPort: number) {}

  port = 0;

  async up(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.targetPort, '127.0.0.1');
      const pair = { client, upstream, name: null as string | null };
      this.pairs.add(pair);
      client.on('data', (chunk: Buffer) => {
        pair.name ??= nameIn(chunk);
        if (this.silenced !== null && pair.name === this.silenced) {
          this.dead.add(client).add(upstream);
        }
        if (!this.dead.has(client) && !upstream.destroyed) {
          upstream.write(chunk);
        }
      });
      upstream.on('data', (chunk: Buffer) => this.dead.has(upstream) || client.destroyed || client.write(chunk));
      for (const [a, b] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        a.on('error', () => b.destroy());
        a.on('close', () => {
          this.dead.delete(a);
          this.pairs.delete(pair);
          b.destroy();
        });
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    this.server = server;
    const address = server.address();
    this.port = typeof address === 'object' && address !== null ? address.port : 0;
  }

  /** Silences every connection named `name`, open or to come, until `cut`. */
  silence(name: string): void {
    this.silenced = name;
    for (const p of this.pairs) {
      if (p.name === name) {
        this.dead.add(p.client).add(p.upstream);
      }
    }
  }

  /** Ends the silence: the silenced connections are closed, their reconnections go through. */
  cut(): void {
    this.silenced = null;
    for (const p of this.pairs) {
      if (this.dead.has(p.client)) {
        p.client.destroy();
      }
    }
  }

  async down(): Promise<void> {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** The name a CLIENT SETNAME in `chunk` gives (RESP: ...$7\r\nsetname\r\n$<n>\r\n<name>\r\n), or null. */
function nameIn(chunk: Buffer): string | null {
  const m = /\$7\r\nsetname\r\n\$\d+\r\n([^\r]*)\r\n/i.exec(chunk.toString('latin1'));
  return m === null ? null : m[1];
}
