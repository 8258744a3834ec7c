import type { UsageBatch } from '@aigw/core';
import 'reflect-metadata';
import { QueueName } from '@aigw/core';
import { waitFor } from '@aigw/testing';
import { Queue } from 'bullmq';
import { WorkerHarness } from './support';
import { TcpProxy } from './tcp-proxy';

/** PostgreSQL going away must neither stop generation nor lose (or duplicate) a usage record. */
describe('router-worker: usage writer while PostgreSQL is unreachable', () => {
  const proxy = new TcpProxy('127.0.0.1', 5432);
  let h: WorkerHarness;
  let usageQueue: Queue;

  beforeAll(async () => {
    await proxy.up();
    h = new WorkerHarness({
      databaseUrl: `postgres://postgres@127.0.0.1:${proxy.port}/test`,
      env: { USAGE_FLUSH_MS: '20', RETRY_MAX: '0' },
    });
    await h.start();
    usageQueue = new Queue(QueueName.Usage, { connection: h.queue.opts.connection, prefix: `{${h.prefix}}` });
  }, 60_000);

  afterAll(async () => {
    await proxy.up().catch(() => undefined);
    await usageQueue.close();
    await h.stop();
    await proxy.down();
  }, 30_000);

  async function writeFailures(): Promise<number> {
    const match = /^aigw_usage_write_failures_total (\d+)$/m.exec(await h.metrics());
    return Number(match?.[1] ?? 0);
  }

  it('keeps generating, retries the usage jobs, and writes every record exactly once when it is back', async () => {
    const before = await h.enqueue();
    await h.finalReplies(before.id!);
    await waitFor(async () => (await h.usageRows([before.data.request.requestId])).length === 1);

    await proxy.down();
    h.sim.configure({ failNext: 3, failStatus: [500] });
    const jobs = await Promise.all(Array.from({ length: 12 }, (_, i) => h.enqueue({ stream: i % 2 === 0 })));
    for (const job of jobs) {
      const replies = await h.finalReplies(job.id!);
      expect(['end', 'result', 'error']).toContain(replies.at(-1)?.t);
    }
    const ids = jobs.map((j) => j.data.request.requestId);

    await waitFor(async () => (await writeFailures()) >= 2, {
      timeoutMs: 10_000,
      message: 'no failed usage write seen',
    });
    expect(await h.usageRows(ids)).toEqual([]);
    const counts = await usageQueue.getJobCounts('failed', 'delayed', 'waiting', 'active');
    expect(counts.failed).toBe(0);
    // Every event waits in some usage job (jobs carry group-committed batches of events).
    const pending = await usageQueue.getJobs(['delayed', 'waiting', 'active']);
    const pendingIds = pending.flatMap((j) => (j.data as UsageBatch).events.map((e) => e.requestId));
    expect(new Set(pendingIds)).toEqual(new Set(ids));
    // An outage spends none of a job's attempts (finite: a job past them stays failed, never written), however long.
    expect(pending.map((j) => j.attemptsMade)).toEqual(pending.map(() => 0));

    await proxy.up();
    const rows = await waitFor(
      async () => {
        const r = await h.usageRows(ids);
        return r.length === ids.length ? r : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100, message: 'usage rows did not land after PostgreSQL came back' },
    );
    expect(new Set(rows.map((r) => r.request_id))).toEqual(new Set(ids));
    expect(rows.filter((r) => r.status === 'error')).toHaveLength(3);
    await waitFor(
      async () => (await usageQueue.getJobCounts('completed', 'delayed', 'waiting', 'active')).delayed === 0,
    );
    const after = await usageQueue.getJobCounts('failed', 'delayed', 'waiting', 'active');
    expect(after).toMatchObject({ failed: 0, delayed: 0, waiting: 0, active: 0 });
    const [{ n }] = await h.query<{ n: string }>('SELECT count(*) AS n FROM usage_records');
    expect(Number(n)).toBe(ids.length + 1);
  }, 60_000);
});
