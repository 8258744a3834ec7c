import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ApiKeyStore } from '@aigw/entities';
import { chat, GatewayHarness, REDIS_URL } from './support';

/** One command a gateway connection sent: the connection's name (CLIENT SETNAME) and the command's arguments. */
interface Sent {
  conn: string | null;
  args: string[];
}

/**
 * The RESP commands (`*N` arrays of bulk strings, as ioredis writes them) complete in `buf`, and what is left of it
 * (a command cut across two reads).
 */
function commandsIn(buf: Buffer): { commands: string[][]; rest: Buffer } {
  const commands: string[][] = [];
  let at = 0;
  for (;;) {
    const start = at;
    const line = (from: number): [string, number] | null => {
      const end = buf.indexOf('\r\n', from);
      return end < 0 ? null : [buf.toString('latin1', from, end), end + 2];
    };
    const head = line(at);
    if (head === null || !head[0].startsWith('*')) {
      return { commands, rest: buf.subarray(start) };
    }
    at = head[1];
    const args: string[] = [];
    for (let i = 0; i < Number(head[0].slice(1)); i++) {
      const len = line(at);
      const size = len === null ? 0 : Number(len[0].slice(1));
      if (len === null || len[1] + size + 2 > buf.length) {
        return { commands, rest: buf.subarray(start) };
      }
      args.push(buf.toString('utf8', len[1], len[1] + size));
      at = len[1] + size + 2;
    }
    commands.push(args);
  }
}

/** A loopback relay in front of the tests' Redis that records every command its clients send, by connection name. */
class RecordingRelay {
  readonly sent: Sent[] = [];
  port = 0;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  async up(): Promise<void> {
    const target = Number(new URL(REDIS_URL).port || 6379);
    const server = createServer((client) => {
      const upstream = connect(target, '127.0.0.1');
      let name: string | null = null;
      let pending: Buffer = Buffer.alloc(0);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
      }
      client.on('data', (chunk: Buffer) => {
        const { commands, rest } = commandsIn(Buffer.concat([pending, chunk]));
        pending = rest;
        for (const args of commands) {
          if (args[0]?.toLowerCase() === 'client' && args[1]?.toLowerCase() === 'setname') {
            name = args[2] ?? null;
          }
          this.sent.push({ conn: name, args });
        }
        upstream.write(chunk);
      });
      upstream.on('data', (chunk: Buffer) => client.destroyed || client.write(chunk));
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    this.server = server;
    const address = server.address();
    this.port = typeof address === 'object' && address !== null ? address.port : 0;
  }

  async down(): Promise<void> {
    for (const s of this.sockets) {
      s.destroy();
    }
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/**
 * Issue 13's admission target: a request of a caller with rate limits and a spend budget is admitted in one Redis
 * round trip, the admission script (EVALSHA), and the gateway sends no other command on a governance key for it (the
 * worker settles the reservation; the stand-in worker here is not behind the relay). A second command on the way (a
 * read of the epoch or of a counter before the script, a script sent as EVAL every time) fails this test.
 */
describe('api-gateway: admission of a caller with rate limits and a budget', () => {
  const relay = new RecordingRelay();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-admission-rtt-'));
  let h: GatewayHarness;

  beforeAll(async () => {
    await relay.up();
    const tiersFile = path.join(dir, 'tiers.yaml');
    writeFileSync(
      tiersFile,
      'tiers:\n  default: { rpm: 100000, tpm: 100000000, dailyRequestLimit: 1000000, monthlyRequestLimit: 10000000, ' +
        'dailySpendLimitUsd: 100000, monthlySpendLimitUsd: 1000000 }\n',
    );
    const url = new URL(REDIS_URL);
    url.port = String(relay.port);
    h = await new GatewayHarness({ REDIS_URL: url.toString(), TIERS_FILE: tiersFile }).start();
  }, 60_000);

  afterAll(async () => {
    await h?.stop();
    await relay.down();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('sends one EVALSHA, and no other command on a governance key, for an admitted request', async () => {
    const { key } = await h.app.get(ApiKeyStore).create({ userName: 'admission-rtt', role: 'user', rpm: 50_000 });
    // The first request may find the script not loaded yet (NOSCRIPT, then EVAL): a new Redis's once, not each request's.
    const first = await h.post('/v1/chat/completions', chat('warm'), h.headers(key));
    expect(first.status).toBe(200);
    await first.text();

    const from = relay.sent.length;
    const res = await h.post('/v1/chat/completions', chat('measured'), h.headers(key));
    expect(res.status).toBe(200);
    await res.text();
    // Admitted under the limits: the rate-limit headers of the key's minute.
    expect(res.headers.get('x-ratelimit-limit-requests')).toBe('50000');
    const requestId = res.headers.get('x-request-id') ?? '';
    expect(requestId).not.toBe('');

    const governance = relay.sent
      .slice(from)
      .filter((c) => c.conn?.startsWith(h.prefix) === true && c.args.some((a) => a.startsWith(`${h.prefix}:gov:`)));
    expect(governance).toHaveLength(1);
    const [admission] = governance;
    expect(admission.conn).toBe(`${h.prefix}:cmd`);
    expect(admission.args[0].toLowerCase()).toBe('evalsha');
    // The request's own admission: its marker is among the script's keys.
    expect(admission.args).toContain(`${h.prefix}:gov:admitted:${requestId}`);
  });
});
