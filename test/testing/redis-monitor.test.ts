import { openMonitor, TEST_REDIS_URL as REDIS_URL } from '@aigw/testing';
import Redis from 'ioredis';

/** Opens monitors while another connection keeps Redis busy, so that commands land in the read of MONITOR's OK. */
describe('openMonitor', () => {
  let flood: Redis;
  let client: Redis;
  let busy = true;
  let load: Promise<void>;

  beforeAll(() => {
    flood = new Redis(REDIS_URL);
    client = new Redis(REDIS_URL);
    load = (async () => {
      while (busy) {
        await Promise.all(Array.from({ length: 50 }, () => flood.ping()));
      }
    })();
  });

  afterAll(async () => {
    busy = false;
    await load;
    flood.disconnect();
    client.disconnect();
  });

  it('opens a monitor that reports the commands sent after it opened, however busy Redis is', async () => {
    for (let i = 0; i < 100; i++) {
      const monitor = await openMonitor(client);
      try {
        const marker = `redis-monitor-test:${process.pid}:${i}`;
        const seen = new Promise<void>((resolve) =>
          monitor.on('monitor', (_time: string, args: string[]) => {
            if (args[1] === marker) {
              resolve();
            }
          }),
        );
        await client.exists(marker);
        await seen;
      } finally {
        monitor.disconnect();
      }
    }
  });

  it('rejects, with its connection closed, when Redis cannot be reached', async () => {
    const unreachable = new Redis('redis://127.0.0.1:1/0', { lazyConnect: true, retryStrategy: () => null });
    try {
      await expect(openMonitor(unreachable)).rejects.toThrow(/ECONNREFUSED/);
    } finally {
      unreachable.disconnect();
    }
  });
});
