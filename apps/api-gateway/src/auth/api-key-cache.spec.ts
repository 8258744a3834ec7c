import { ApiKeyCache } from './api-key-cache';

interface Key {
  id: string;
}

function setup(table: Record<string, Key | null | Error>, opts: { ttlMs?: number; maxEntries?: number } = {}) {
  let now = 1_000;
  const calls: string[] = [];
  const lookup = (key: string): Promise<Key | null> => {
    calls.push(key);
    const v = table[key];
    return v instanceof Error ? Promise.reject(v) : Promise.resolve(v ?? null);
  };
  const cache = new ApiKeyCache<Key>(lookup, {
    ttlMs: opts.ttlMs ?? 5_000,
    negativeTtlMs: 1_000,
    maxEntries: opts.maxEntries ?? 100,
    now: () => now,
  });
  return { cache, calls, advance: (ms: number) => (now += ms) };
}

describe('ApiKeyCache', () => {
  it('answers a fresh hit synchronously without a lookup', async () => {
    const { cache, calls } = setup({ k1: { id: 'a' } });
    await expect(cache.resolve('k1')).resolves.toEqual({ id: 'a' });
    expect(cache.resolve('k1')).toEqual({ id: 'a' });
    expect(calls).toEqual(['k1']);
  });

  it('forget drops the matching entries: they are looked up again at once, others stay cached', async () => {
    const table: Record<string, Key | null> = { k1: { id: 'a' }, k2: { id: 'b' } };
    const { cache, calls } = setup(table);
    await cache.resolve('k1');
    await cache.resolve('k2');
    table.k1 = null;
    cache.forget((key) => key.id === 'a');
    await expect(cache.resolve('k1')).resolves.toBeNull();
    expect(cache.resolve('k2')).toEqual({ id: 'b' });
    expect(calls).toEqual(['k1', 'k2', 'k1']);
  });

  it('a lookup in flight when forget is called answers its request but is not kept', async () => {
    const table: Record<string, Key | null> = { k1: { id: 'a' } };
    const { cache, calls } = setup(table);
    const pending = cache.resolve('k1');
    cache.forget(() => true);
    await expect(pending).resolves.toEqual({ id: 'a' });
    table.k1 = null;
    await expect(cache.resolve('k1')).resolves.toBeNull();
    expect(calls).toEqual(['k1', 'k1']);
  });

  it('looks the key up again after the TTL', async () => {
    const table: Record<string, Key | null> = { k1: { id: 'a' } };
    const { cache, calls, advance } = setup(table);
    await cache.resolve('k1');
    advance(5_001);
    table.k1 = null;
    await expect(cache.resolve('k1')).resolves.toBeNull();
    expect(calls).toEqual(['k1', 'k1']);
  });

  it('remembers unknown keys for the negative TTL only', async () => {
    const { cache, calls, advance } = setup({});
    await expect(cache.resolve('nope')).resolves.toBeNull();
    expect(cache.resolve('nope')).toBeNull();
    advance(1_001);
    await cache.resolve('nope');
    expect(calls).toEqual(['nope', 'nope']);
  });

  it('shares one lookup between concurrent misses', async () => {
    const { cache, calls } = setup({ k1: { id: 'a' } });
    const [a, b] = await Promise.all([cache.resolve('k1'), cache.resolve('k1')]);
    expect(a).toEqual({ id: 'a' });
    expect(b).toEqual({ id: 'a' });
    expect(calls).toHaveLength(1);
  });

  it('keeps a known key working when the store fails, but not an unknown one', async () => {
    const table: Record<string, Key | null | Error> = { k1: { id: 'a' } };
    const { cache, advance } = setup(table);
    await cache.resolve('k1');
    advance(6_000);
    table.k1 = new Error('db down');
    table.k2 = new Error('db down');
    await expect(cache.resolve('k1')).resolves.toEqual({ id: 'a' });
    await expect(cache.resolve('k2')).rejects.toThrow('db down');
  });

  it('answers a known key from its last lookup when the refresh does not answer in time', async () => {
    let now = 1_000;
    let hang = false;
    const lookup = (): Promise<Key | null> =>
      hang ? new Promise<Key | null>(() => undefined) : Promise.resolve({ id: 'a' });
    const cache = new ApiKeyCache<Key>(lookup, {
      ttlMs: 5_000,
      negativeTtlMs: 1_000,
      maxEntries: 100,
      staleAfterMs: 50,
      now: () => now,
    });
    await cache.resolve('k1');
    now += 6_000;
    // The store stopped answering (a half-open network): the request must not wait for the store's own timeout.
    hang = true;
    const started = Date.now();
    await expect(cache.resolve('k1')).resolves.toEqual({ id: 'a' });
    expect(Date.now() - started).toBeLessThan(1_000);
    // A key never seen still waits for the store.
    const unknown = await Promise.race([cache.resolve('k2'), new Promise((r) => setTimeout(() => r('waiting'), 200))]);
    expect(unknown).toBe('waiting');
  });

  it('never answers a key from its last lookup once forget dropped it (revoked while the store stalls or fails)', async () => {
    let now = 1_000;
    let pending: { resolve: (v: Key | null) => void; reject: (e: Error) => void } | null = null;
    let hang = false;
    const lookup = (): Promise<Key | null> =>
      hang
        ? new Promise<Key | null>((resolve, reject) => (pending = { resolve, reject }))
        : Promise.resolve({ id: 'a' });
    const cache = new ApiKeyCache<Key>(lookup, {
      ttlMs: 5_000,
      negativeTtlMs: 1_000,
      maxEntries: 100,
      staleAfterMs: 50,
      now: () => now,
    });
    await cache.resolve('k1');
    now += 6_000;
    hang = true;
    const stalled = cache.resolve('k1');
    cache.forget((k) => k.id === 'a');
    const first = await Promise.race([stalled, new Promise((r) => setTimeout(() => r('waiting'), 200))]);
    expect(first).toBe('waiting');
    // The store then fails: still not the last lookup.
    pending!.reject(new Error('db down'));
    await expect(stalled).rejects.toThrow('db down');
  });

  it('never answers a key from its last lookup once forget dropped it, though that lookup already answered a request', async () => {
    let now = 1_000;
    let pending: { resolve: (v: Key | null) => void } | null = null;
    let hang = false;
    const lookup = (): Promise<Key | null> =>
      hang ? new Promise<Key | null>((resolve) => (pending = { resolve })) : Promise.resolve({ id: 'a' });
    const cache = new ApiKeyCache<Key>(lookup, {
      ttlMs: 5_000,
      negativeTtlMs: 1_000,
      maxEntries: 100,
      staleAfterMs: 50,
      now: () => now,
    });
    await cache.resolve('k1');
    now += 6_000;
    hang = true;
    // The store stalls (one connection of the pool half-open): the refresh answers from the last lookup, as meant.
    await expect(cache.resolve('k1')).resolves.toEqual({ id: 'a' });
    // Then the key is revoked (through another connection) and forget drops it, while that refresh still hangs.
    cache.forget((k) => k.id === 'a');
    const next = await Promise.race([cache.resolve('k1'), new Promise((r) => setTimeout(() => r('waiting'), 200))]);
    expect(next).toBe('waiting');
    pending!.resolve(null);
    await expect(cache.resolve('k1')).resolves.toBeNull();
  });

  it("keeps answering other callers' keys from their last lookup when forget drops one caller's while the store stalls", async () => {
    let now = 1_000;
    let hang = false;
    const lookup = (key: string): Promise<Key | null> =>
      hang ? new Promise<Key | null>(() => undefined) : Promise.resolve({ id: key === 'k1' ? 'a' : 'b' });
    const cache = new ApiKeyCache<Key>(lookup, {
      ttlMs: 5_000,
      negativeTtlMs: 1_000,
      maxEntries: 100,
      staleAfterMs: 50,
      now: () => now,
    });
    await cache.resolve('k1');
    await cache.resolve('k2');
    now += 6_000;
    hang = true;
    const refresh = cache.resolve('k2');
    // Another user's change (a revocation, or a preference any user may set) while k2's refresh hangs.
    cache.forget((k) => k.id === 'a');
    const answer = await Promise.race([refresh, new Promise((r) => setTimeout(() => r('waiting'), 500))]);
    expect(answer).toEqual({ id: 'b' });
  });

  it("keeps other callers' keys working when forget drops one caller's and then the store fails", async () => {
    const table: Record<string, Key | null | Error> = { k1: { id: 'a' }, k2: { id: 'b' } };
    const { cache, advance } = setup(table);
    await cache.resolve('k1');
    await cache.resolve('k2');
    advance(6_000);
    table.k2 = new Error('db down');
    const refresh = cache.resolve('k2');
    cache.forget((k) => k.id === 'a');
    await expect(refresh).resolves.toEqual({ id: 'b' });
  });

  it('never holds more than maxEntries per map', async () => {
    const table: Record<string, Key> = {};
    for (let i = 0; i < 10; i++) {
      table[`k${i}`] = { id: String(i) };
    }
    const { cache, calls } = setup(table, { maxEntries: 3 });
    for (let i = 0; i < 10; i++) {
      await cache.resolve(`k${i}`);
    }
    expect(cache.size).toBe(3);
    expect(cache.resolve('k9')).toEqual({ id: '9' });
    await cache.resolve('k0');
    expect(calls.filter((k) => k === 'k0')).toHaveLength(2);
  });
});
