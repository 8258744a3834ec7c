import type { CircuitConfig } from '@aigw/core';
import { CircuitBreakerStore, RedisClockOffset } from '@aigw/routing';
import { connect, deleteKeys, sleep, uniquePrefix } from './redis';

const config: CircuitConfig = {
  failureThreshold: 2,
  failureRate: 0.5,
  windowMs: 60_000,
  minVolume: 20,
  openMs: 400,
  halfOpenMaxProbes: 1,
  probeTtlMs: 30_000,
};

const SKEW_MS = 5 * 60_000;

/**
 * The scripts time circuits by the Redis server clock (openedAt, a cooldown's end), so that workers with skewed
 * clocks agree; the read side (`states`, which every request's plan uses) compared those times with the worker's own
 * clock. A worker five minutes behind Redis saw a circuit that had just opened as open for five minutes more: its
 * requests were refused (`no_healthy_provider`) with a Retry-After of five minutes, long after `acquire` would have
 * let a probe in. It now reads times on the Redis clock as the script replies it already gets show it.
 */
describe('circuit states on a worker whose clock is behind Redis (real Redis)', () => {
  const redis = connect();
  const prefix = uniquePrefix();
  const realNow = Date.now.bind(Date);

  afterEach(() => jest.restoreAllMocks());

  afterAll(async () => {
    await deleteKeys(redis, prefix);
    await redis.quit();
  });

  it('reads an open circuit as Redis times it: the open time left, then available once it passed', async () => {
    jest.spyOn(Date, 'now').mockImplementation(() => realNow() - SKEW_MS);
    const store = new CircuitBreakerStore(redis, prefix, config);
    for (let i = 0; i < config.failureThreshold; i++) {
      await store.recordFailure('p/m');
    }
    const open = (await store.states(['p/m'])).get('p/m');
    expect(open).toMatchObject({ state: 'open', available: false });
    expect(open?.retryAfterMs).toBeGreaterThan(0);
    expect(open?.retryAfterMs).toBeLessThanOrEqual(config.openMs);

    await sleep(config.openMs + 50);
    expect((await store.states(['p/m'])).get('p/m')).toMatchObject({ state: 'open', available: true });
    // What acquire, the authority, says too.
    expect(await store.acquire('p/m')).toMatchObject({ allowed: true, state: 'half_open' });
  });

  it('reads with an offset learnt by TIME (a process that runs no script, the api-gateway), at most once per interval', async () => {
    // The circuit is opened by a store on the right clock (a worker's).
    await new CircuitBreakerStore(redis, prefix, config).recordFailure('p/t');
    await new CircuitBreakerStore(redis, prefix, config).recordFailure('p/t');
    jest.spyOn(Date, 'now').mockImplementation(() => realNow() + SKEW_MS);
    const offset = new RedisClockOffset();
    const reader = new CircuitBreakerStore(redis, prefix, config, { clockOffset: offset });
    // Five minutes ahead and nothing learnt: the circuit opened a moment ago looks past its open time.
    expect((await reader.states(['p/t'])).get('p/t')).toMatchObject({ state: 'open', available: true });
    await offset.sync(redis, 10_000);
    expect(Math.abs(offset.now() - realNow())).toBeLessThan(250);
    expect((await reader.states(['p/t'])).get('p/t')).toMatchObject({ state: 'open', available: false });
    // Within the interval no TIME is sent.
    const time = jest.spyOn(redis, 'time');
    await offset.sync(redis, 10_000);
    expect(time).not.toHaveBeenCalled();
  });
});
