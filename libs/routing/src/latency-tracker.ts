import { DAY_MS, MINUTE_MS } from '@aigw/core';
import { RedisScript, type RedisClient } from './redis-script';

/*
 * One hash for all deployments (field = deployment id, value = "<ewma>:<updatedAtMs>"), so
 * `get` is a single HMGET on a single key, which also works on Redis Cluster.
 *
 * ARGV: now, maxAgeMs, keyTtlMs, then per deployment four values: id, restart, weight,
 * contribution (see `foldSamples`): the new average is weight * previous + contribution, or
 * restart when there is no previous average or it is older than maxAgeMs (a stale average is
 * restarted from the first sample instead of being blended with it). Returns the new averages.
 */
const EWMA_LUA = `
local now, maxAge = tonumber(ARGV[1]), tonumber(ARGV[2])
local out = {}
for i = 4, #ARGV, 4 do
  local id = ARGV[i]
  local value = tonumber(ARGV[i + 1])
  local prev = redis.call('HGET', KEYS[1], id)
  if prev then
    local avg, at = string.match(prev, '^([^:]+):(.+)$')
    avg, at = tonumber(avg), tonumber(at)
    if avg and at and now - at <= maxAge then
      value = tonumber(ARGV[i + 2]) * avg + tonumber(ARGV[i + 3])
    end
  end
  local encoded = string.format('%.3f', value)
  redis.call('HSET', KEYS[1], id, encoded .. ':' .. ARGV[1])
  out[#out + 1] = encoded
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return out
`;

/** Samples in order, folded into what the script needs to apply them all at once. */
export interface FoldedSamples {
  /** The average if it restarts from the first sample. */
  restart: number;
  /** The previous average's weight after every sample: (1 - alpha)^n. */
  weight: number;
  /** The samples' share of the new average when it blends with the previous one. */
  contribution: number;
}

/**
 * n samples applied in one step: the same average as folding them one by one
 * (avg = alpha * sample + (1 - alpha) * avg), up to rounding.
 */
export function foldSamples(samples: readonly number[], alpha: number): FoldedSamples {
  let restart = samples[0];
  let weight = 1;
  let contribution = 0;
  samples.forEach((sample, i) => {
    if (i > 0) {
      restart = alpha * sample + (1 - alpha) * restart;
    }
    weight *= 1 - alpha;
    contribution = alpha * sample + (1 - alpha) * contribution;
  });
  return { restart, weight, contribution };
}

const script = new RedisScript(EWMA_LUA);

export interface LatencyTrackerOptions {
  /** Weight of the newest sample, 0 < alpha <= 1 (higher reacts faster, smooths less). */
  alpha: number;
  /** Averages not updated for this long are ignored (and restarted by the next sample). Default 15 min. */
  maxAgeMs?: number;
  clock?: () => number;
}

const DEFAULT_MAX_AGE_MS = 15 * MINUTE_MS;
const KEY_TTL_MS = 7 * DAY_MS;

/**
 * Recent provider latency per deployment, an exponentially weighted moving average shared by
 * all workers. Record what the latency policy should minimise (the caller decides: total time
 * of successful calls, or time to first chunk for streams).
 */
export class LatencyTracker {
  private readonly key: string;
  private readonly maxAgeMs: number;
  private readonly clock: () => number;

  constructor(
    private readonly redis: RedisClient,
    keyPrefix: string,
    private readonly options: LatencyTrackerOptions,
  ) {
    if (!(options.alpha > 0 && options.alpha <= 1)) {
      throw new Error(`LatencyTracker alpha must be within (0, 1], got ${options.alpha}`);
    }
    this.key = `${keyPrefix}latency`;
    this.maxAgeMs = options.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
    this.clock = options.clock ?? Date.now;
  }

  /** Folds one sample into the average; returns the new average. */
  async record(deploymentId: string, ms: number): Promise<number> {
    const [average] = await this.recordMany([[deploymentId, [ms]]]);
    return average;
  }

  /**
   * Folds the samples of several deployments, each in order, in one round trip (a worker batches its samples
   * instead of writing each one); returns the new averages in the same order.
   */
  async recordMany(batch: readonly (readonly [string, readonly number[]])[]): Promise<number[]> {
    const args: (string | number)[] = [Math.floor(this.clock()), this.maxAgeMs, KEY_TTL_MS];
    for (const [deploymentId, samples] of batch) {
      if (samples.length === 0 || samples.some((ms) => !Number.isFinite(ms) || ms < 0)) {
        throw new Error(`Latency samples must be non-negative numbers, got [${samples.join(', ')}]`);
      }
      const { restart, weight, contribution } = foldSamples(samples, this.options.alpha);
      args.push(deploymentId, restart, weight, contribution);
    }
    if (batch.length === 0) {
      return [];
    }
    const reply = await script.run(this.redis, [this.key], args);
    return (reply as string[]).map(Number);
  }

  /** Drops the averages of deleted deployments. */
  async forget(deploymentIds: readonly string[]): Promise<void> {
    if (deploymentIds.length > 0) {
      await this.redis.hdel(this.key, ...deploymentIds);
    }
  }

  /** Recent averages of the given deployments in one round trip; missing or stale ones are absent. */
  async get(deploymentIds: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (deploymentIds.length === 0) {
      return out;
    }
    const values = await this.redis.hmget(this.key, ...deploymentIds);
    const now = this.clock();
    deploymentIds.forEach((id, i) => {
      const raw = values[i];
      if (raw === null) {
        return;
      }
      const sep = raw.indexOf(':');
      const avg = Number(raw.slice(0, sep));
      const at = Number(raw.slice(sep + 1));
      if (sep > 0 && Number.isFinite(avg) && now - at <= this.maxAgeMs) {
        out.set(id, avg);
      }
    });
    return out;
  }
}
