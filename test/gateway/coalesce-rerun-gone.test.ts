import type { ReplyMessage } from '@aigw/core';
import { ErrorCode } from '@aigw/core';
import { inFlightNames, RedisKeys } from '@aigw/platform';
import { sleep, waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { gatewayBehind, relayToTestRedis, stopBehind } from './named-stall-relay';
import { chat, type GatewayHarness, type GenerateJob, REDIS_URL } from './support';

/**
 * A coalesced follower (ADR 0007) that runs again (the job it followed stopped at the leader's deadline) and whose
 * client leaves while it joins again (the command connection silent meanwhile). Its request watches its client
 * afresh for each run; a client that left before that watch began was never seen, so when it joined again as a
 * follower it stayed counted among that job's waiters, for nobody, until the job ended (keeping the call running should
 * everyone else leave). It now leaves at once.
 */
describe('api-gateway: a rerunning follower whose client left while it joined again', () => {
  const relay = relayToTestRedis();
  let h: GatewayHarness;
  let probe: Redis;

  beforeAll(async () => {
    h = await gatewayBehind(relay, { CACHE_ENABLED: 'true', REQUEST_TIMEOUT_MS: '20000' });
    probe = new Redis(REDIS_URL);
  }, 60_000);

  afterAll(async () => {
    await probe?.quit();
    await stopBehind(relay, h);
  }, 60_000);

  it('leaves the job it joined again', async () => {
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    const jobs: GenerateJob[] = [];
    h.handle(async (job) => {
      jobs.push(job);
      await stopped;
      return h.failClientGone(job);
    });
    const content = `rerun gone ${Date.now()}`;
    const leaderClient = new AbortController();
    const leader = h.post('/v1/chat/completions', chat(content), h.headers(), leaderClient.signal).catch(() => null);
    await waitFor(() => jobs.length === 1, { message: 'the leader never enqueued' });
    const job = jobs[0];
    const names = inFlightNames(new RedisKeys(h.prefix), job.data.coalescingKey ?? '', job.id ?? '');
    const followerClient = new AbortController();
    const follower = h
      .post('/v1/chat/completions', chat(content), h.headers(), followerClient.signal)
      .catch(() => null);
    await waitFor(async () => (await probe.hget(names.marker, 'n')) === '2', { message: 'the follower never joined' });

    // The job stops at the leader's deadline, as the worker tells its followers: the marker goes, the error is mirrored.
    // By then another request leads a job under the key (a marker naming it), which the follower's next run joins.
    relay.silenceAt(`${h.prefix}:cmd`, 'evalsha');
    const timeout: ReplyMessage = {
      t: 'error',
      jobId: job.id ?? '',
      error: {
        message: 'The request deadline passed before the provider answered.',
        type: 'timeout_error',
        code: ErrorCode.Timeout,
        param: null,
      },
    };
    await probe.hset(names.marker, 'job', 'another-job', 'n', 1);
    await probe.rpush(names.log, JSON.stringify(timeout));
    await probe.pexpire(names.log, 60_000);
    await probe.publish(names.channel, JSON.stringify(timeout));
    // Its next run's first script (the release of the marker it followed) is held; its client leaves meanwhile.
    await waitFor(() => relay.holding, { timeoutMs: 10_000, message: 'the follower never ran again' });
    followerClient.abort();
    await follower;
    await sleep(300);
    relay.cut();
    // Its join lands once the network is back (that job's read-back finds it missing only 5 s later), and it leaves
    // that job at once: only the request that leads it waits.
    await sleep(1_500);
    expect(await probe.hget(names.marker, 'job')).toBe('another-job');
    expect(await probe.hget(names.marker, 'n')).toBe('1');
    expect(jobs).toHaveLength(1);
    stop();
    leaderClient.abort();
    await leader;
  }, 60_000);
});
