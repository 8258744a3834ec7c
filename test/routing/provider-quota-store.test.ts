import type Redis from 'ioredis';
import type { QuotaSnapshot } from '@aigw/core';
import { RedisErrors, RedisKeys } from '@aigw/platform';
import { PROVIDER_QUOTA_TTL_MS, ProviderQuotaStore, providerQuotaKey } from '@aigw/routing';
import { ProviderQuotaBook } from '../../apps/router-worker/src/routing/quota-book';
import { connect, deleteKeys, uniquePrefix } from './redis';

const snapshot = (remaining: number, observedAt = 1_772_366_400_000): QuotaSnapshot => ({
  requests: { limit: 100, remaining, resetAt: observedAt + 1000 },
  tokens: null,
  observedAt,
});

describe('ProviderQuotaStore (real Redis)', () => {
  let worker: Redis;
  let admin: Redis;
  let namespace: string;

  beforeAll(() => {
    worker = connect();
    admin = connect();
    namespace = uniquePrefix();
  });

  afterAll(async () => {
    await deleteKeys(worker, namespace);
    await Promise.all([worker.quit(), admin.quit()]);
  });

  it('writes many snapshots in one transaction with the TTL, and reads them back per provider and route', async () => {
    const w = new ProviderQuotaStore(worker, namespace);
    await w.write([
      { providerId: 'openai', route: 'direct', snapshot: snapshot(40) },
      { providerId: 'zai', route: 'gateway', snapshot: snapshot(3) },
      { providerId: 'zai', route: 'direct', snapshot: snapshot(9) },
    ]);
    const read = await new ProviderQuotaStore(admin, namespace).readAll();
    expect(read).toEqual(
      new Map([
        ['openai', { direct: snapshot(40) }],
        ['zai', { gateway: snapshot(3), direct: snapshot(9) }],
      ]),
    );
    const ttl = await admin.pttl(providerQuotaKey(namespace));
    expect(ttl).toBeGreaterThan(PROVIDER_QUOTA_TTL_MS - 60_000);
    // A later write replaces the field (last writer wins) and leaves the others.
    await w.write([{ providerId: 'openai', route: 'direct', snapshot: snapshot(39) }]);
    expect((await w.readAll()).get('openai')?.direct?.requests?.remaining).toBe(39);
    expect((await w.readAll()).get('zai')?.gateway?.requests?.remaining).toBe(3);
  });

  it('skips fields it cannot read instead of failing the admin list', async () => {
    const ns = `${namespace}junk`;
    const key = providerQuotaKey(ns);
    await worker.hset(key, {
      'ok:direct': JSON.stringify(snapshot(5)),
      'bad-json:direct': '{',
      'bad-shape:direct': JSON.stringify({ requests: { limit: 'x' }, tokens: null, observedAt: 1 }),
      'bad-route:sideways': JSON.stringify(snapshot(1)),
      noroute: JSON.stringify(snapshot(1)),
    });
    expect(await new ProviderQuotaStore(admin, ns).readAll()).toEqual(new Map([['ok', { direct: snapshot(5) }]]));
  });

  it('an empty write sends nothing; an empty hash reads as no provider', async () => {
    const ns = `${namespace}empty`;
    const store = new ProviderQuotaStore(worker, ns);
    await store.write([]);
    expect(await worker.exists(providerQuotaKey(ns))).toBe(0);
    expect(await store.readAll()).toEqual(new Map());
  });
});

describe('ProviderQuotaBook: headers in memory, changes to Redis on flush (real Redis)', () => {
  let redis: Redis;
  let namespace: string;
  const ops: string[] = [];
  const errors = new RedisErrors({ warn: () => undefined, log: () => undefined }, { inc: ({ op }) => ops.push(op) });

  beforeAll(() => {
    redis = connect();
    namespace = uniquePrefix();
  });

  afterAll(async () => {
    await deleteKeys(redis, namespace);
    await redis.quit();
  });

  it('writes what changed since the last flush, and nothing when nothing did', async () => {
    const book = new ProviderQuotaBook(redis, new RedisKeys(namespace), errors);
    const key = providerQuotaKey(namespace);
    const store = new ProviderQuotaStore(redis, namespace);
    book.observer('openai', 'direct')(200, {
      'x-ratelimit-limit-requests': '60',
      'x-ratelimit-remaining-requests': '59',
    });
    book.observer('zai', 'gateway')(429, { 'retry-after': '2' });
    book.observer('local', 'direct')(200, { 'content-type': 'application/json' });
    expect(await redis.exists(key)).toBe(0);

    await book.flush();
    const first = await store.readAll();
    expect([...first.keys()].sort()).toEqual(['openai', 'zai']);
    expect(first.get('openai')?.direct?.requests).toMatchObject({ limit: 60, remaining: 59 });
    expect(first.get('zai')?.gateway?.requests).toMatchObject({ remaining: 0, resetAt: expect.any(Number) });

    // Nothing new: no write at all (the deleted hash stays deleted).
    await redis.del(key);
    await book.flush();
    expect(await redis.exists(key)).toBe(0);

    // Only the provider that changed is written.
    book.observer('openai', 'direct')(200, {
      'x-ratelimit-limit-requests': '60',
      'x-ratelimit-remaining-requests': '58',
    });
    await book.flush();
    expect([...(await store.readAll()).keys()]).toEqual(['openai']);
    expect((await store.readAll()).get('openai')?.direct?.requests?.remaining).toBe(58);
    expect(ops).toEqual([]);
  });

  it('a flush while another is writing writes what changed after that one started (no change lost at shutdown)', async () => {
    const book = new ProviderQuotaBook(redis, new RedisKeys(namespace), errors);
    const store = new ProviderQuotaStore(redis, namespace);
    const observe = book.observer('late', 'direct');
    observe(200, { 'x-ratelimit-limit-requests': '10', 'x-ratelimit-remaining-requests': '9' });
    const running = book.flush();
    observe(200, { 'x-ratelimit-limit-requests': '10', 'x-ratelimit-remaining-requests': '8' });
    await Promise.all([running, book.flush()]);
    expect((await store.readAll()).get('late')?.direct?.requests?.remaining).toBe(8);
    expect(ops).toEqual([]);
  });
});
