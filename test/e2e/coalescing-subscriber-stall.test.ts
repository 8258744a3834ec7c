import { connect, createServer, type Server, type Socket } from 'node:net';
import { freePort, uniqueId, waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { REDIS_URL, TestSystem } from './harness';

/**
 * A relay to the test Redis that can silence the gateway's reply subscriber alone (its connection names itself
 * `<prefix>:replies`): what it sends is dropped, as on a half-open connection, while the gateway's other connections
 * work. Its SUBSCRIBEs then never get an answer (ioredis waits out a subscriber's reconnections).
 */
class SubscriberSilencer {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly subscribers = new WeakSet<Socket>();
  silenced = false;
  port = 0;

  async start(): Promise<void> {
    const target = new URL(REDIS_URL);
    this.port = await freePort();
    this.server = createServer((client) => {
      const upstream = connect(Number(target.port || 6379), target.hostname);
      let first = true;
      client.on('data', (chunk: Buffer) => {
        if (first) {
          // ioredis names the connection (CLIENT SETNAME) before anything else.
          first = false;
          if (chunk.includes(':replies\r\n')) {
            this.subscribers.add(client);
          }
        }
        if (!(this.silenced && this.subscribers.has(client))) {
          upstream.write(chunk);
        }
      });
      upstream.on('data', (chunk: Buffer) => client.destroyed || client.write(chunk));
      for (const [a, b] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        this.sockets.add(a);
        a.on('error', () => b.destroy());
        a.on('close', () => {
          this.sockets.delete(a);
          b.destroy();
        });
      }
    });
    await new Promise<void>((resolve) => this.server?.listen(this.port, '127.0.0.1', resolve));
  }

  url(): string {
    const u = new URL(REDIS_URL);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) {
      s.destroy();
    }
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/**
 * A coalesced follower whose Redis reads hang (its gateway's reply subscriber silent: the SUBSCRIBE to the job's
 * mirror never answered) is still answered at its deadline, and stops counting as a request in progress. Before, its
 * request waited for that SUBSCRIBE before waiting for its answer: no 504 at the deadline, no answer at all while the
 * subscriber stayed silent, and counted as arriving (MAX_PENDING_REQUESTS, the drain) meanwhile. Its waiter did leave
 * the job at its deadline (the sweep), so the marker's count was right even then: checked here too.
 */
describe('coalescing: a follower whose reply subscriber is silent (e2e)', () => {
  const relay = new SubscriberSilencer();
  const system = new TestSystem({
    workers: 1,
    env: { CACHE_ENABLED: 'true', CACHE_TTL_S: '60', REQUEST_TIMEOUT_MS: '3000' },
    appEnv: {
      'api-gateway': {
        get REDIS_URL() {
          return relay.url();
        },
      },
    },
  });

  beforeAll(async () => {
    await relay.start();
    await system.start();
  }, 90_000);

  afterAll(async () => {
    await relay.stop();
    await system.stop();
  }, 30_000);

  function chat(prompt: string, signal: AbortSignal): Promise<Response> {
    return fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model: 'sim-gpt', messages: [{ role: 'user', content: prompt }] }),
      signal,
    });
  }

  it('is answered 504 at its deadline, not when (if ever) the subscription is answered', async () => {
    system.sim.configure({ latencyMs: 8_000 });
    const prompt = `silent subscriber ${uniqueId()}`;
    relay.silenced = true;
    const leader = chat(prompt, AbortSignal.timeout(10_000)).catch((err: unknown) => err);
    await waitFor(() => system.sim.stats().inFlight === 1, { timeoutMs: 5_000, intervalMs: 20 });
    const started = Date.now();
    const follower = await chat(prompt, AbortSignal.timeout(7_000)).catch((err: unknown) => err);
    expect(follower).toBeInstanceOf(Response);
    const res = follower as Response;
    expect(res.headers.get('x-gateway-coalesced')).toBe('true');
    expect(res.status).toBe(504);
    await res.text();
    // Its deadline is 3 s after it arrived; a sweep (100 ms) and a loaded host later at most.
    expect(Date.now() - started).toBeLessThan(5_000);
    await leader;
    // Both left the job at their deadlines: the last one released the marker (its waiter count) and cancelled the call.
    const redis = new Redis(REDIS_URL);
    try {
      await waitFor(async () => (await redis.keys(`${system.prefix}:inflight:*`)).length === 0, {
        timeoutMs: 5_000,
        message: 'the in-flight marker outlived every waiter',
      });
    } finally {
      await redis.quit();
    }
  }, 30_000);
});
