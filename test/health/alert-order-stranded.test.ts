import type { HealthAlert } from '@aigw/core';
import type { ProviderHealthStore } from '@aigw/entities';
import { waitFor } from '@aigw/testing';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import type { CatalogService } from '@aigw/platform';
import { Alerts } from '../../apps/health-monitor/src/health/alerts';
import { MonitorMetrics } from '../../apps/health-monitor/src/health/monitor-metrics';
import { AlertWorld } from './alert-world';

/** A promise and the function that settles it. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/**
 * A relay that runs while an alert is being delivered (real PostgreSQL, Redis and a loopback webhook). It read the
 * alert from the outbox before the delivery deleted the row, and re-queued it after the delivery had left the
 * subject's order set but before its job finished: its entry went back into the order set, its job add was a no-op
 * (the job still existed), and nothing was left to take the entry out. Every newer alert of the subject then waited
 * for it, up to the 15-minute order hold.
 */
describe('health alerts: a relay racing a delivery does not strand the order of its subject', () => {
  const received: HealthAlert[] = [];
  const world = new AlertWorld('strand', 1, (req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      received.push(JSON.parse(raw) as HealthAlert);
      res.writeHead(204).end();
    });
  });
  /** Whether p1 answers the probes. */
  let up = false;

  it('delivers the newer alert of the subject without waiting for the hold', async () => {
    const { store } = world;
    const read = gate();
    const released = gate();
    let relayed: Promise<void> | undefined;
    /** The other replica's alerts, once made. */
    const other: { relay?: Alerts } = {};

    // Another replica's relay: it reads the outbox, then goes on once the delivery left the order set.
    const relayStore = Object.create(store) as ProviderHealthStore;
    relayStore.pendingAlerts = async (limit: number) => {
      const pending = await store.pendingAlerts(limit);
      read.open();
      await released.promise;
      return pending;
    };

    // The delivering replica: the relay starts as it deletes the row, and runs until the delivery left the order set
    // (the job is still active until the delivery returns).
    let raced = false;
    const deliveringStore = Object.create(store) as ProviderHealthStore;
    deliveringStore.alertDone = async (id: string) => {
      if (!raced && other.relay !== undefined) {
        raced = true;
        relayed = other.relay.relay();
        await read.promise;
      }
      return store.alertDone(id);
    };
    const redis = new Proxy(world.redis, {
      get(target, prop, receiver) {
        if (prop === 'zrem') {
          return async (...args: Parameters<Redis['zrem']>) => {
            const removed = await target.zrem(...args);
            if (relayed !== undefined) {
              released.open();
              await relayed;
            }
            return removed;
          };
        }
        const value: unknown = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const { queue, jobs } = world.replica(() => up, deliveringStore, redis);
    other.relay = new Alerts(
      world.env,
      queue,
      new MonitorMetrics(new Registry(), store, {} as CatalogService),
      world.redis,
      world.keys,
      relayStore,
    );

    await jobs.probeProvider('p1');
    await waitFor(() => received.length >= 1 && relayed !== undefined, { timeoutMs: 10_000 });
    await relayed;
    expect(received.map((a) => a.kind)).toEqual(['failing']);

    // p1 works again: its `recovered` goes out at once, not 15 minutes later.
    up = true;
    await jobs.probeProvider('p1');
    await waitFor(() => received.length >= 2, { timeoutMs: 10_000 });
    expect(received.map((a) => a.kind)).toEqual(['failing', 'recovered']);
    await waitFor(async () => (await store.pendingAlerts(10)).length === 0, { timeoutMs: 5000 });
  });
});
