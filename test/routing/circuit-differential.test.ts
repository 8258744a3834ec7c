import {
  acquireCircuit,
  closedCircuit,
  recordCircuitCooldown,
  recordCircuitFailure,
  recordCircuitSuccess,
  recordCircuitSuccesses,
  releaseCircuitProbe,
  resetCircuit,
  runningCooldown,
  type CircuitConfig,
  type CircuitData,
  type CircuitTransition,
} from '@aigw/core';
import type Redis from 'ioredis';
import { CircuitBreakerStore } from '@aigw/routing';
import { connect, deleteKeys, uniquePrefix } from './redis';

/*
 * The Lua script and the pure state machine must implement the same breaker. Drive both with
 * the same random events and clock and compare the full state after every step.
 */

const config: CircuitConfig = {
  failureThreshold: 3,
  failureRate: 0.5,
  windowMs: 1000,
  minVolume: 4,
  openMs: 500,
  halfOpenMaxProbes: 2,
  probeTtlMs: 300,
};

function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function normalised(d: CircuitData): CircuitData {
  return { ...d, probes: [...d.probes].sort((x, y) => x.id.localeCompare(y.id)) };
}

describe('circuit breaker: Lua store vs pure state machine', () => {
  let redis: Redis;
  let prefix: string;

  beforeAll(() => {
    redis = connect();
    prefix = uniquePrefix();
  });

  afterAll(async () => {
    await deleteKeys(redis, prefix);
    await redis.quit();
  });

  it.each([1, 2, 3, 4, 5])('agrees on 400 random steps (seed %i)', async (seed) => {
    const random = seededRandom(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
    let now = 1_700_000_000_000 + seed * 7;
    const store = new CircuitBreakerStore(redis, prefix, config, { clock: () => now });
    const id = `dep-${seed}`;
    let data = closedCircuit();
    const held: string[] = [];
    const takeProbe = (): string | null =>
      held.length > 0 && random() < 0.7 ? held.splice(Math.floor(random() * held.length), 1)[0] : null;
    // Results of probes that hold no live slot while half-open: of an earlier round (`held` keeps them across
    // re-opens), whose slot expired, or an id nobody was given. They must decide nothing, in both.
    let late = 0;
    // Weighted: failures and acquires are what move the breaker; reset comes on a fixed schedule.
    const ops = [
      'acquire',
      'acquire',
      'success',
      'successes',
      'failure',
      'failure',
      'cooldown',
      'release',
      'tick',
      'tick',
    ] as const;
    const log: string[] = [];

    for (let step = 0; step < 400; step++) {
      const op = step % 97 === 96 ? 'reset' : pick(ops);
      let transition: CircuitTransition | null = null;
      let storeTransition: CircuitTransition | null = null;
      switch (op) {
        case 'acquire': {
          // Half the acquires ask to hold a probe slot longer than probeTtlMs (or less, which changes nothing).
          const slotMs = random() < 0.5 ? 0 : Math.floor(random() * 2 * config.probeTtlMs);
          const permit = await store.acquire(id, slotMs);
          const pure = acquireCircuit(data, now, config, permit.probeId ?? 'refused', slotMs);
          expect({ ...permit, transition: undefined }).toEqual({ ...pure.permit, transition: undefined });
          data = pure.data;
          transition = pure.transition;
          storeTransition = permit.transition;
          if (permit.probeId !== null) {
            held.push(permit.probeId);
          }
          break;
        }
        case 'success':
        case 'failure': {
          const probe = random() < 0.2 ? `made-up-${step}` : takeProbe();
          if (
            data.state === 'half_open' &&
            probe !== null &&
            !data.probes.some((p) => p.id === probe && p.expiresAt > now)
          ) {
            late++;
          }
          const result = op === 'success' ? await store.recordSuccess(id, probe) : await store.recordFailure(id, probe);
          const pure = (op === 'success' ? recordCircuitSuccess : recordCircuitFailure)(data, now, config, probe);
          data = pure.data;
          transition = pure.transition;
          storeTransition = result.transition;
          expect(result.state).toBe(data.state);
          break;
        }
        case 'cooldown': {
          // A 429/503/529 with Retry-After, of a probe or not; some waits longer than openMs (held at most that).
          const probe = takeProbe();
          const waitMs = pick([1, 40, 299, 300, 700]);
          const status = pick([429, 503, 529]);
          const result = await store.recordCooldown(id, probe, waitMs, status);
          data = recordCircuitCooldown(data, now, config, probe, waitMs, status);
          expect(result).toEqual({ state: data.state, transition: null });
          break;
        }
        case 'successes': {
          // A worker's batch of non-probe successes, the latest of which ended `age` ms ago.
          const count = 1 + Math.floor(random() * 4);
          const age = pick([0, 1, 40, 99, 300]);
          const result = await store.recordSuccesses(id, count, age);
          data = recordCircuitSuccesses(data, now, config, count, now - age);
          expect(result).toEqual({ state: data.state, transition: null });
          break;
        }
        case 'release': {
          const probe = takeProbe();
          if (probe !== null) {
            await store.release(id, probe);
            data = releaseCircuitProbe(data, probe);
          }
          break;
        }
        case 'tick':
          now += pick([0, 1, 40, 99, 120, 299, 300, 501]);
          break;
        case 'reset': {
          const result = await store.reset(id);
          // The cooldown the reset ended, as the spec sees it before the reset.
          expect(result.endedCooldown).toEqual(runningCooldown(data, now));
          const pure = resetCircuit(data, now);
          data = pure.data;
          transition = pure.transition;
          storeTransition = result.transition;
          held.length = 0;
          break;
        }
      }
      log.push(`${step} ${op} -> ${data.state}`);
      expect(storeTransition).toEqual(transition);
      const stored = normalised(await store.snapshot(id));
      if (JSON.stringify(stored) !== JSON.stringify(normalised(data))) {
        throw new Error(
          `Diverged at step ${step}:\n${log.slice(-8).join('\n')}\nstore ${JSON.stringify(stored)}\npure  ${JSON.stringify(normalised(data))}`,
        );
      }
    }
    // The walk must have exercised every state, and late probe results, or it proves little.
    expect(new Set(log.map((l) => l.split(' -> ')[1]))).toEqual(new Set(['closed', 'open', 'half_open']));
    expect(late).toBeGreaterThan(0);
  });
});
