import { RedisScript, type RedisClient } from '@aigw/routing';
import type { RedisKeys } from '../redis/redis';

/**
 * Request coalescing (ADR 0007): identical requests in flight at the same time share one generate job. The Redis
 * objects of one coalesced job, in the main Redis (the queue's: markers must not be evicted, and they are small and
 * short-lived):
 *
 * - `marker`: hash `{job, n}` under the coalescing key while the job runs: the leader's job id and how many requests
 *   wait for it. Deleted by the worker when the job ends, by the last waiter leaving, or by its TTL.
 * - `channel`: pub/sub channel where the worker mirrors every reply message of the job, for followers.
 * - `log`: list of the same messages, so a follower that joins late replays the stream from its first chunk.
 */
export interface InFlightNames {
  marker: string;
  channel: string;
  log: string;
}

export function inFlightNames(keys: RedisKeys, coalescingKey: string, jobId: string): InFlightNames {
  return {
    marker: keys.key('inflight', coalescingKey),
    channel: keys.key('inflight-replies', jobId),
    log: keys.key('inflight-log', jobId),
  };
}

/** How long the mirrored messages of a job stay after its deadline, for followers still replaying them. */
export const IN_FLIGHT_GRACE_MS = 30_000;

/** The marker and the log expire at the job's deadline plus the grace: the worker aborts the job by then. */
export function inFlightTtlMs(deadlineAt: number, now = Date.now()): number {
  return Math.max(1, deadlineAt - now) + IN_FLIGHT_GRACE_MS;
}

/**
 * KEYS[1] marker; ARGV job id, ttl ms. Returns the leader's job id, or nil when this request is the leader. A marker
 * that already names this job id is this request's own join run again (ioredis sends a command again after a
 * reconnect when its reply was lost): still the leader, counted once. Before, the leader became a follower of its
 * own job, which it then never queued: it and every identical request were answered "lost" 5 s later.
 */
const JOIN = new RedisScript(`
local job = redis.call('HGET', KEYS[1], 'job')
if job == ARGV[1] then
  return false
end
if job then
  redis.call('HINCRBY', KEYS[1], 'n', 1)
  return job
end
redis.call('HSET', KEYS[1], 'job', ARGV[1], 'n', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return false
`);

/**
 * KEYS[1] marker; ARGV job id. A waiter gives up (client gone, deadline): 1 when nobody else waits for the job any
 * more (then the marker is deleted, so nobody joins a job about to be cancelled), else 0. A marker that names
 * another job (or none) means the job already ended: 0, nothing to cancel.
 */
const LEAVE = new RedisScript(`
if redis.call('HGET', KEYS[1], 'job') ~= ARGV[1] then
  return 0
end
if redis.call('HINCRBY', KEYS[1], 'n', -1) > 0 then
  return 0
end
redis.call('DEL', KEYS[1])
return 1
`);

/** KEYS[1] marker; ARGV job id. The job ended: later identical requests start a job of their own. */
const RELEASE = new RedisScript(`
if redis.call('HGET', KEYS[1], 'job') == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return 0
`);

/** Joins the in-flight job of `names.marker`, or becomes its leader with `jobId`: the leader's job id, or null. */
export async function joinInFlight(
  redis: RedisClient,
  names: InFlightNames,
  jobId: string,
  ttlMs: number,
): Promise<string | null> {
  const leader = await JOIN.run(redis, [names.marker], [jobId, Math.ceil(ttlMs)]);
  return typeof leader === 'string' ? leader : null;
}

/** A waiter of `jobId` gives up; true when it was the last one (the job may be cancelled). */
export async function leaveInFlight(redis: RedisClient, names: InFlightNames, jobId: string): Promise<boolean> {
  return (await LEAVE.run(redis, [names.marker], [jobId])) === 1;
}

export async function releaseInFlight(redis: RedisClient, names: InFlightNames, jobId: string): Promise<void> {
  await RELEASE.run(redis, [names.marker], [jobId]);
}
