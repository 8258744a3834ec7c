import { randomUUID } from 'node:crypto';
import { RedisScript } from '@aigw/routing';
import type { Redis } from 'ioredis';

/** Deletes the hold only when it is still this cycle's (a hold that lapsed may be another cycle's by now). */
const RELEASE = new RedisScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`);

/**
 * One probe cycle of a subject at a time, across replicas: a cycle holds `key` (SET NX PX with a token of its own)
 * while it probes and records; one that finds it held is a second run of the same cycle (a stalled job run again, a
 * replica that took a duplicate) and is skipped, so the subject is probed once and a failure is counted once, not
 * twice in one interval (which made a provider `failing` in half its HEALTH_FAILURE_THRESHOLD intervals). The hold
 * lapses after `holdMs` (the probe interval: the probes themselves end before it, see `probeBudgetMs`), so a monitor
 * that died holding it delays no later cycle. A cycle that ran past its hold is fenced by the store, not here: its
 * probe began before the next one's and never undoes it (`ProviderHealthStore.recordProbe`).
 */
export class ProbeCycleLock {
  constructor(private readonly redis: Redis) {}

  /**
   * Runs `cycle` under the hold; resolves to false without running it when another cycle holds it. Redis unreachable:
   * the cycle runs unheld (a probe skipped for Redis's sake would leave the status to lapse), `onError` told.
   */
  async run(
    key: string,
    holdMs: number,
    cycle: () => Promise<void>,
    onError: (err: unknown) => void,
  ): Promise<boolean> {
    const token = randomUUID();
    let held = false;
    try {
      held = (await this.redis.set(key, token, 'PX', Math.max(1, Math.round(holdMs)), 'NX')) === 'OK';
      if (!held) {
        return false;
      }
    } catch (err) {
      onError(err);
    }
    try {
      await cycle();
    } finally {
      if (held) {
        await RELEASE.run(this.redis, [key], [token]).catch(onError);
      }
    }
    return true;
  }
}
