import type Redis from 'ioredis';
import { ROUTE_MEMORY_TTL_MS, RouteMemory } from '@aigw/routing';
import { connect, deleteKeys, sleep, uniquePrefix } from './redis';

describe('RouteMemory (real Redis)', () => {
  let workerA: Redis;
  let workerB: Redis;
  let prefix: string;

  beforeAll(() => {
    workerA = connect();
    workerB = connect();
    prefix = uniquePrefix();
  });

  afterAll(async () => {
    await deleteKeys(workerA, prefix);
    await Promise.all([workerA.quit(), workerB.quit()]);
  });

  it('shares the route that worked between workers, for 24 h by default', async () => {
    const a = new RouteMemory(workerA, prefix);
    const b = new RouteMemory(workerB, prefix);
    expect(await b.get('zai')).toBeNull();
    await a.set('zai', 'gateway');
    expect(await b.get('zai')).toBe('gateway');
    const ttl = await workerA.pttl(`${prefix}route:zai`);
    expect(ttl).toBeGreaterThan(ROUTE_MEMORY_TTL_MS - 60_000);
    expect(ttl).toBeLessThanOrEqual(ROUTE_MEMORY_TTL_MS);
    await b.set('zai', 'direct');
    expect(await a.get('zai')).toBe('direct');
    await a.forget('zai');
    expect(await b.get('zai')).toBeNull();
  });

  it('forgets the route when the TTL passes', async () => {
    const memory = new RouteMemory(workerA, prefix, 150);
    await memory.set('deepseek', 'gateway');
    expect(await memory.get('deepseek')).toBe('gateway');
    const deadline = Date.now() + 5000;
    while ((await memory.get('deepseek')) !== null && Date.now() < deadline) {
      await sleep(50);
    }
    expect(await memory.get('deepseek')).toBeNull();
  });

  it('ignores values it did not write', async () => {
    await workerA.set(`${prefix}route:odd`, 'carrier-pigeon');
    expect(await new RouteMemory(workerA, prefix).get('odd')).toBeNull();
  });
});
