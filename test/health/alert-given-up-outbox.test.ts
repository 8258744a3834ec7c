import type { HealthJobName } from '@aigw/core';
import type { ProviderHealthStore } from '@aigw/entities';
import { waitFor } from '@aigw/testing';
import { AlertWorld, dyingAlerts } from './alert-world';

/**
 * An alert whose delivery was given up (its last attempt failed) while PostgreSQL was unreachable (real PostgreSQL,
 * Redis and a loopback webhook that answers 500). Its outbox row could not be deleted, so the relay queued it again
 * every minute; the failed job kept under its id made each add a no-op, so the row stayed in the outbox (and kept the
 * subject's order set alive) until a thousand later failures trimmed the job away.
 */
describe('health alerts: the outbox row of an alert given up while PostgreSQL was away is cleaned by the relay', () => {
  let posts = 0;
  const world = new AlertWorld('givenup', 1, (req, res) => {
    req.resume();
    req.on('end', () => {
      posts++;
      res.writeHead(500).end();
    });
  });

  it('drops the row at the next relay instead of leaving it for good', async () => {
    const { store } = world;
    await expect(world.monitor(dyingAlerts).probeProvider('p1')).rejects.toThrow('SIGKILL');
    const [alert] = await store.pendingAlerts(10);
    expect(alert.alertId).toBeDefined();

    // PostgreSQL is away when the delivery is given up: the row cannot be deleted then.
    let pgAway = true;
    const flaky = Object.create(store) as ProviderHealthStore;
    flaky.alertDone = (id: string) => (pgAway ? Promise.reject(new Error('ECONNREFUSED')) : store.alertDone(id));
    const { queue, alerts } = world.replica(() => false, flaky);
    // The delivery at its last attempt (as after its 8th): one POST, answered 500, given up.
    await queue.alerts.add('send-alert' as HealthJobName, { alert }, { jobId: `alert-${alert.alertId}`, attempts: 1 });
    await waitFor(async () => (await queue.alerts.getJobState(`alert-${alert.alertId}`)) === 'failed', {
      timeoutMs: 10_000,
    });
    expect(posts).toBe(1);
    expect(await store.pendingAlerts(10)).toHaveLength(1);

    // PostgreSQL is back; the relay runs.
    pgAway = false;
    await alerts.relay();
    expect(await store.pendingAlerts(10)).toHaveLength(0);
    expect(posts).toBe(1);
  });
});
