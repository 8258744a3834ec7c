import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP relay in front of a real server, to take it "down" (refuse connections and cut the open
 * ones) and bring it back on the same port, as a database outage looks to a client; or to `stall` it: a half-open
 * network (a middlebox that stops forwarding without closing anything), where every open connection stays open and
 * silent for good, and new ones connect but carry nothing until `resume`.
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private boundPort = 0;
  /** Sockets that forward nothing, ever again (a connection that went through a stall stays dead). */
  private readonly dead = new Set<Socket>();
  private stalled = false;

  /**
   * @param replyDelayMs what the server sends reaches the client this much later (in order); what the client sends
   * goes through at once: a reply still on its way when the client acts, as on a slow link.
   */
  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
    private readonly replyDelayMs = 0,
  ) {}

  get port(): number {
    return this.boundPort;
  }

  async up(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.targetPort, this.targetHost);
      if (this.stalled) {
        this.dead.add(client).add(upstream);
      }
      for (const [a, b] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        this.sockets.add(a);
        if (a === upstream && this.replyDelayMs > 0) {
          a.on('data', (chunk: Buffer) => setTimeout(() => b.destroyed || b.write(chunk), this.replyDelayMs));
        } else {
          a.on('data', (chunk: Buffer) => this.dead.has(a) || b.destroyed || b.write(chunk));
          a.on('end', () => this.dead.has(a) || b.end());
        }
        a.on('error', () => b.destroy());
        a.on('close', () => {
          this.sockets.delete(a);
          this.dead.delete(a);
          b.destroy();
        });
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.boundPort, '127.0.0.1', () => resolve());
    });
    this.server = server;
    const address = server.address();
    this.boundPort = typeof address === 'object' && address !== null ? address.port : 0;
  }

  /** Half-open: every open connection goes silent for good (nothing is closed); new ones carry nothing until resume. */
  stall(): void {
    this.stalled = true;
    for (const s of this.sockets) {
      this.dead.add(s);
    }
  }

  /** New connections carry data again; those that went silent stay silent (their peers must give up on them). */
  resume(): void {
    this.stalled = false;
  }

  /** Connections open through the relay (both ends count once). */
  get connections(): number {
    return this.sockets.size / 2;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) {
      s.destroy();
    }
    if (server) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }
}
