import { roundRobin, type Deployment } from '@aigw/core';
import type Redis from 'ioredis';
import { RoundRobinCounter } from '@aigw/routing';
import { connect, deleteKeys, uniquePrefix } from './redis';

describe('RoundRobinCounter (real Redis)', () => {
  const workers: Redis[] = [];
  let prefix: string;

  beforeAll(() => {
    for (let i = 0; i < 3; i++) {
      workers.push(connect());
    }
    prefix = uniquePrefix();
  });

  afterAll(async () => {
    await deleteKeys(workers[0], prefix);
    await Promise.all(workers.map((w) => w.quit()));
  });

  it('hands out unique consecutive values across workers, per key', async () => {
    const counters = workers.map((w) => new RoundRobinCounter(w, prefix));
    const values = await Promise.all(Array.from({ length: 300 }, (_, i) => counters[i % 3].next('gpt-4o')));
    expect([...values].sort((x, y) => x - y)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(await counters[0].next('other-model')).toBe(1);
    expect(await workers[0].pttl(`${prefix}rr:gpt-4o`)).toBeGreaterThan(0);
  });

  it('spreads requests from several workers evenly over the candidates', async () => {
    const candidates = ['a', 'b', 'c', 'd', 'e'].map((p) => ({ id: `${p}/m` }) as Deployment);
    const counters = workers.map((w) => new RoundRobinCounter(w, prefix));
    const firstChoice = new Map<string, number>();
    await Promise.all(
      Array.from({ length: 500 }, async (_, i) => {
        const n = await counters[i % 3].next('auto');
        const id = roundRobin(candidates, n)[0].id;
        firstChoice.set(id, (firstChoice.get(id) ?? 0) + 1);
      }),
    );
    expect([...firstChoice.values()]).toEqual([100, 100, 100, 100, 100]);
  });
});
