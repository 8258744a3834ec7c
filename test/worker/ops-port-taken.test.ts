import 'reflect-metadata';
import { createServer, type Server } from 'node:net';
import { freePort, sleep } from '@aigw/testing';
import { Redis } from 'ioredis';
import { startRouterWorker } from '../../apps/router-worker/src/bootstrap';
import { REDIS_URL, WorkerHarness } from './support';

/**
 * A router-worker whose ops port (PORT: `/metrics`, `/health/*`) is taken fails its start. It took jobs before it
 * opened the port, so a job queued meanwhile was held by a process gone: left active under its lock until the lock
 * lapsed and another worker's stall check re-ran it. It must take no job before its port is open. Run in-process: a
 * failed start that took a job shows it by running that job (a process of its own would exit at once with it).
 */
describe('router-worker: a start that fails on a taken ops port drops no job', () => {
  // A lock far longer than the test waits: a job held by the failed worker would be re-run only past it.
  const h = new WorkerHarness({ env: { WORKER_LOCK_MS: '60000', WORKER_STALLED_INTERVAL_MS: '500' } });
  let blocker: Server;
  let takenPort: number;

  beforeAll(async () => {
    await h.prepare();
    takenPort = await freePort();
    blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(takenPort, '127.0.0.1', resolve));
  }, 30_000);

  afterAll(async () => {
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
    await h.stop();
  }, 30_000);

  it('takes no job before its port is open, and leaves the queued job to the next worker at once', async () => {
    // Slow enough that a worker taking the job could not finish it before its failed start is seen.
    h.sim.configure({ latencyMs: 5_000, echo: true });
    const job = await h.enqueue({ messages: [{ role: 'user', content: 'not dropped' }] });

    await expect(startRouterWorker({ ...h.env, HOST: '127.0.0.1', PORT: takenPort })).rejects.toThrow(
      `127.0.0.1:${takenPort} is already in use (EADDRINUSE)`,
    );
    // Before, the failed worker had taken the job (a process then exits, its job left locked): it reached the provider.
    await sleep(1_000);
    expect(h.sim.stats().byRoute['POST /v1/chat/completions'] ?? 0).toBe(0);
    expect(await (await h.queue.getJob(job.id!))?.getState()).toBe('waiting');
    // And it left no connection of its own behind (its consumers, its command connection).
    expect(await clientsNamed(h.prefix)).toEqual([]);

    h.sim.configure({ latencyMs: 0 });
    const startedAt = Date.now();
    h.app = await startRouterWorker(h.env);
    const replies = await h.finalReplies(job.id!, 8_000);
    expect(Date.now() - startedAt).toBeLessThan(8_000);
    expect(replies).toHaveLength(1);
    expect(replies[0]).toMatchObject({ t: 'result', result: { text: 'not dropped' } });
    expect(h.sim.stats().byRoute['POST /v1/chat/completions']).toBe(1);
  }, 60_000);
});

/** The names of the Redis connections open under `prefix` (every connection of an app is named after it). */
async function clientsNamed(prefix: string): Promise<string[]> {
  const probe = new Redis(REDIS_URL);
  try {
    const list = (await probe.client('LIST')) as string;
    return list
      .split('\n')
      .map((line) => /\bname=(\S*)/.exec(line)?.[1] ?? '')
      .filter((name) => name.startsWith(`${prefix}:`));
  } finally {
    await probe.quit();
  }
}
