import type { HealthAlert, HealthJobName } from '@aigw/core';
import { waitFor } from '@aigw/testing';
import { AlertWorld, dyingAlerts } from './alert-world';

/**
 * A relayed alert and a newer one of the same subject (real PostgreSQL, Redis and a loopback webhook). A monitor
 * recorded p1 `failing` and died before queueing the alert (it stays in the outbox); another replica then records p1
 * recovered and queues that alert at once. The order set only held alerts already queued, so `recovered` went out
 * first and the relay sent `failing` after it: the receiver was left believing p1 down.
 */
describe('health alerts: an alert left in the outbox still reaches the webhook before the newer ones of its subject', () => {
  const received: HealthAlert[] = [];
  const world = new AlertWorld('relayorder', 1, (req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      received.push(JSON.parse(raw) as HealthAlert);
      res.writeHead(204).end();
    });
  });
  /** Whether p1 answers the probes. */
  let up = false;

  it('delivers the relayed `failing` before the `recovered` another replica raised since', async () => {
    await expect(world.monitor(dyingAlerts, () => up).probeProvider('p1')).rejects.toThrow('SIGKILL');
    expect(await world.store.pendingAlerts(10)).toHaveLength(1);

    // Another replica, before any relay ran: p1 works again.
    const { queue, jobs: replica } = world.replica(() => up);
    up = true;
    await replica.probeProvider('p1');
    await queue.queue.add('relay-alerts' as HealthJobName, {});

    await waitFor(() => received.length >= 2, { timeoutMs: 15_000 });
    expect(received.map((a) => a.kind)).toEqual(['failing', 'recovered']);
    expect(Date.parse(received[0].at)).toBeLessThan(Date.parse(received[1].at));
    await waitFor(async () => (await world.store.pendingAlerts(10)).length === 0, { timeoutMs: 5000 });
  });
});
