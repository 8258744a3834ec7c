import 'reflect-metadata';
import { CuttableRelay, waitFor } from '@aigw/testing';
import { captureAppLog } from '../platform/app-log';
import { WorkerHarness } from './support';

const DOWN = /^warn usage batch of \d+ not written, will retry: /;
const BACK =
  /^warn usage batches are written again \(failing since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z, \d+ batch\(es\) failed meanwhile\)$/;

/**
 * PostgreSQL goes away and comes back (a relay on loopback cut and reopened: the shared server cannot be stopped).
 * The usage writer logged its failed batches (one line per interval); it must also say, once per outage, that batches
 * are written again: otherwise the log's last word on the usage records is that they are not written, and an operator
 * cannot tell an outage that ended from one still going on (as the readiness check's "is back up" line). Read off the
 * worker's log at LOG_LEVEL=warn: the "written again" line was written at `log`, hidden there, while the failures'
 * warnings showed.
 */
describe('router-worker: usage writer logs when PostgreSQL is back', () => {
  const relay = new CuttableRelay();
  let h: WorkerHarness;
  let log: ReturnType<typeof captureAppLog>;
  /** The usage writer's lines the log shows at LOG_LEVEL=warn, in order, as `level message`. */
  const lines = (): string[] =>
    log.lines.filter((l) => l.message.startsWith('usage batch')).map((l) => `${l.level} ${l.message}`);

  beforeAll(async () => {
    await relay.open();
    h = new WorkerHarness({ databaseUrl: relay.url(), env: { USAGE_FLUSH_MS: '20' } });
    await h.start();
    log = captureAppLog('warn');
  }, 60_000);

  afterAll(async () => {
    log?.stop();
    await relay.open();
    await h.stop();
    await relay.cut();
  }, 30_000);

  /** Generates `n` requests (one usage record each) and waits for their replies. */
  async function generate(n: number): Promise<string[]> {
    const jobs = await Promise.all(Array.from({ length: n }, () => h.enqueue()));
    for (const job of jobs) {
      await h.finalReplies(job.id!);
    }
    return jobs.map((j) => j.data.request.requestId);
  }

  async function landed(ids: string[]): Promise<void> {
    await waitFor(async () => (await h.usageRows(ids)).length === ids.length, {
      timeoutMs: 30_000,
      intervalMs: 100,
      message: 'usage rows did not land',
    });
  }

  it('says nothing while writes work', async () => {
    await landed(await generate(3));
    expect(lines()).toEqual([]);
  });

  it('logs the outage, then once that batches are written again, outage after outage', async () => {
    for (let outage = 1; outage <= 2; outage++) {
      const before = lines().length;
      await relay.cut();
      const during = await generate(4);
      await waitFor(
        () =>
          lines()
            .slice(before)
            .some((l) => DOWN.test(l)),
        {
          timeoutMs: 10_000,
          message: `no failed usage batch logged in outage ${outage}`,
        },
      );
      await relay.open();
      await landed(during);
      // Writes after it add no line.
      await landed(await generate(3));

      const thisOutage = lines().slice(before);
      expect(thisOutage[0]).toMatch(DOWN);
      expect(thisOutage.slice(0, -1).every((l) => DOWN.test(l))).toBe(true);
      expect(thisOutage.at(-1)).toMatch(BACK);
      expect(thisOutage.filter((l) => BACK.test(l))).toHaveLength(1);
      expect(thisOutage.join('\n')).not.toContain('sk-sim');
    }
  }, 90_000);
});
