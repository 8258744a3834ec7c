import { RedisScript, type RedisClient } from './redis-script';

/*
 * One hash for all deployments (field = deployment id, value = "<ewma>:<updatedAtMs>"), so
 * `get` is a single HMGET on a single key, which also works on Redis Cluster.
 *
 * ARGV: deployment id, sample ms, alpha, now, maxAgeMs, keyTtlMs. A stale average (older than
 * maxAgeMs) is restarted from the sample instead of being blended with it.
 */
const EWMA_LUA = `
local prev = redis.call('HGET', KEYS[1], ARGV[1])
local sample, alpha = tonumber(ARGV[2]), tonumber(ARGV[3])
local now, maxAge = tonumber(ARGV[4]), tonumber(ARGV[5])
local value = sample
if prev then
  local avg, at = string.match(prev, '^([^:]+):(.+)$')
  avg, at = tonumber(avg), tonumber(at)
  if avg and at and now - at <= maxAge then
    value = alpha * sample + (1 - alpha) * avg
  end
end
local encoded = string.format('%.3f', value)
redis.call('HSET', KEYS[1], ARGV[1], encoded .. ':' .. ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return encoded
`;

const script = new RedisScript(EWMA_LUA);

export interface LatencyTrackerOptions {
  /** Weight of the newest sample, 0 < alpha <= 1 (higher reacts faster, smooths less). */
  alpha: number;
  /** Averages not updated for this long are ignored (and restarted by the next sample). Default 15 min. */
  maxAgeMs?: number;
  clock?: () => number;
}

const DEFAULT_MAX_AGE_MS = 15 * 60 * 1000;
const KEY_TTL_MS = 7 * 24 * 60 * 60 * 1000;

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
    if (!Number.isFinite(ms) || ms < 0) {
      throw new Error(`Latency sample must be a non-negative number, got ${ms}`);
    }
    const reply = await script.run(
      this.redis,
      [this.key],
      [deploymentId, ms, this.options.alpha, Math.floor(this.clock()), this.maxAgeMs, KEY_TTL_MS],
    );
    return Number(reply);
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
