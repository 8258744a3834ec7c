import type { IncomingHttpHeaders } from 'node:http';
import type { HealthAlert, HealthJobName } from '@aigw/core';
import { waitFor } from '@aigw/testing';
import { AlertWorld, dyingAlerts } from './alert-world';

/**
 * The crash window between deciding an alert and queueing its delivery (real PostgreSQL, Redis and a loopback
 * webhook). The transition is committed with the probe's status update; the delivery job was added after it. A
 * monitor that died (or lost Redis) between the two never alerted: the status was already `failing`, so no later
 * probe saw a transition. The alert is now written to an outbox in the status update's transaction, and the relay
 * job queues whatever is still in it; every delivery carries an id the receiver can dedupe by.
 */
describe('health alerts: durable across a crash between the status update and the delivery job', () => {
  const received: { headers: IncomingHttpHeaders; alert: HealthAlert }[] = [];
  const world = new AlertWorld('outbox', 2, (req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      received.push({ headers: req.headers, alert: JSON.parse(raw) as HealthAlert });
      res.writeHead(204).end();
    });
  });

  it('delivers the alert of a transition whose monitor died before queueing it, with an idempotency id', async () => {
    // The first process dies right after the status update committed, before the delivery is queued.
    const first = world.monitor(dyingAlerts);
    await first.probeProvider('p1');
    await expect(first.probeProvider('p1')).rejects.toThrow('SIGKILL');
    expect((await world.store.providerHealth()).get('p1')?.status).toBe('failing');

    // A monitor comes up again; the provider is still down (no transition left to see). Its periodic relay runs.
    const { queue, jobs: restarted } = world.replica();
    await restarted.probeProvider('p1');
    await queue.queue.add('relay-alerts' as HealthJobName, {});
    await waitFor(() => received.length > 0, { timeoutMs: 10_000 });
    const [got] = received;
    expect(got.alert).toMatchObject({ kind: 'failing', subject: 'provider', id: 'p1', status: 'failing' });
    expect(got.alert.alertId).toMatch(/^[0-9a-f-]{36}$/);
    expect(got.headers['idempotency-key']).toBe(got.alert.alertId);

    // Delivered: the outbox is empty, so a later relay sends nothing again.
    await waitFor(async () => (await world.store.pendingAlerts(10)).length === 0, { timeoutMs: 5000 });
    await queue.queue.add('relay-alerts' as HealthJobName, {});
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(received).toHaveLength(1);
  });
});
