import { firstValueFrom, timeout } from 'rxjs';
import { ControlClient, ControlServer, controlNamespace, RedisErrors } from '@aigw/platform';
import { uniqueId, TEST_REDIS_URL as REDIS_URL } from '@aigw/testing';

/**
 * Request/reply control messages (`health.probe`) are namespaced by REDIS_PREFIX: pub/sub reaches every
 * subscriber and the first reply wins, so without the namespace another deployment's monitor sharing the Redis
 * could answer. Events (`emit`) keep the bare pattern.
 */
describe('namespaced control requests', () => {
  const quiet = new RedisErrors({ warn: () => undefined, log: () => undefined });
  const [a, b] = [uniqueId('ns_a'), uniqueId('ns_b')];
  const servers: ControlServer[] = [];
  const clients: ControlClient[] = [];

  /** REDIS_URL on database `db` (pub/sub channels are the server's, shared by every database). */
  function onDb(db: number): string {
    const url = new URL(REDIS_URL);
    url.pathname = `/${db}`;
    return url.toString();
  }

  async function server(prefix: string, answer: string, delayMs: number, url = REDIS_URL): Promise<ControlServer> {
    const s = new ControlServer(url, quiet, controlNamespace(prefix, url));
    const handler = async (data: unknown): Promise<unknown> => {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      return { answer, data };
    };
    s.addHandler('health.probe', handler, false);
    s.addHandler('generation.cancel', () => Promise.resolve(undefined), true);
    await new Promise<void>((resolve, reject) =>
      s.listen((err) =>
        err === undefined ? resolve() : reject(new Error('control server did not start', { cause: err })),
      ),
    );
    servers.push(s);
    return s;
  }
  function client(prefix: string, url = REDIS_URL): ControlClient {
    const c = new ControlClient(url, quiet, controlNamespace(prefix, url));
    clients.push(c);
    return c;
  }

  afterAll(async () => {
    await Promise.all([...clients.map((c) => c.close()), ...servers.map((s) => s.close())]);
  });

  it("only the sender's namespace answers, and listeners() counts that namespace only", async () => {
    // The other namespace's server answers at once: were it reached, it would win every time.
    await server(a, 'from a', 50);
    await server(b, 'from b', 0);
    for (let i = 0; i < 5; i++) {
      const reply = await firstValueFrom(client(a).send('health.probe', { i }).pipe(timeout(5000)));
      expect(reply).toEqual({ answer: 'from a', data: { i } });
    }
    expect(await client(b).listeners('health.probe')).toBe(1);
    expect(await client(uniqueId('ns_none')).listeners('health.probe')).toBe(0);
  });

  it('deployments with the same prefix on different databases of one Redis do not answer each other', async () => {
    const prefix = uniqueId('ns_db');
    await server(prefix, 'from db 1', 50, onDb(1));
    await server(prefix, 'from db 2', 0, onDb(2));
    for (let i = 0; i < 5; i++) {
      const reply = await firstValueFrom(client(prefix, onDb(1)).send('health.probe', { i }).pipe(timeout(5000)));
      expect(reply).toEqual({ answer: 'from db 1', data: { i } });
    }
    expect(await client(prefix, onDb(3)).listeners('health.probe')).toBe(0);
  });
});
