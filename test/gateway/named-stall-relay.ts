import { connect, createServer, type Server, type Socket } from 'node:net';
import { waitFor } from '@aigw/testing';
import { GatewayHarness, REDIS_URL } from './support';

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
  private armed: { name: string; command: string } | null = null;
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
        if (this.armed !== null && pair.name === this.armed.name && hasCommand(chunk, this.armed.command)) {
          this.armed = null;
          this.silence(pair.name);
        }
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

  /**
   * Silences the connections named `name` from the first write carrying `command` (that write included) on: what the
   * connection sent before it (an earlier step of the same request) goes through.
   */
  silenceAt(name: string, command: string): void {
    this.armed = { name, command };
  }

  /** Whether a connection is silenced now (an armed `silenceAt` has hit its command). */
  get holding(): boolean {
    return this.armed === null && this.silenced !== null;
  }

  /** Ends the silence: the silenced connections are closed, their reconnections go through. */
  cut(): void {
    this.silenced = null;
    this.armed = null;
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

/** A relay in front of the tests' Redis (REDIS_URL). */
export function relayToTestRedis(): NamedStallRelay {
  return new NamedStallRelay(Number(new URL(REDIS_URL).port || 6379));
}

/** Starts `relay` and a gateway of `env` whose Redis connections all go through it. */
export async function gatewayBehind(relay: NamedStallRelay, env: Record<string, string>): Promise<GatewayHarness> {
  await relay.up();
  const url = new URL(REDIS_URL);
  url.port = String(relay.port);
  const h = new GatewayHarness({ ...env, REDIS_URL: url.toString() });
  await h.start();
  return h;
}

/** Undoes `gatewayBehind`: the silence ended first, so that the gateway's close does not wait on it. */
export async function stopBehind(relay: NamedStallRelay, h: GatewayHarness | undefined): Promise<void> {
  relay.cut();
  await h?.stop();
  await relay.down();
}

/**
 * A job whose add stalled on the gateway's `:queue` connection lands once the silence is cut (the add's reply never
 * came; the relay closing the connection, as the socket timeout would, sends it again): the gateway must cancel and
 * remove it before any worker takes it. `what` names the job in the failure messages.
 */
export async function landsAndIsRemoved(
  relay: NamedStallRelay,
  h: GatewayHarness,
  jobId: string,
  what: string,
): Promise<void> {
  relay.cut();
  await waitFor(() => h.cancels.some((c) => c.jobId === jobId), {
    timeoutMs: 10_000,
    message: `no cancel for ${what}`,
  });
  await waitFor(async () => (await h.queue.getJob(jobId)) === undefined, {
    timeoutMs: 10_000,
    message: `${what} is still queued`,
  });
  expect(h.jobsSeen).not.toContain(jobId);
}

/** Whether `chunk` (RESP) carries the command `command` (its name as a bulk string, e.g. $5\r\nhmget\r\n). */
function hasCommand(chunk: Buffer, command: string): boolean {
  return chunk.toString('latin1').toLowerCase().includes(`$${command.length}\r\n${command.toLowerCase()}\r\n`);
}

/** The name a CLIENT SETNAME in `chunk` gives (RESP: ...$7\r\nsetname\r\n$<n>\r\n<name>\r\n), or null. */
function nameIn(chunk: Buffer): string | null {
  const m = /\$7\r\nsetname\r\n\$\d+\r\n([^\r]*)\r\n/i.exec(chunk.toString('latin1'));
  return m === null ? null : m[1];
}
