import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { setTimeout as delay } from 'node:timers/promises';
import {
  closeAfterFailedStart,
  listen,
  LocalReplies,
  METRICS_REGISTRY,
  MetricsExposition,
  ReadinessChecks,
  ShutdownState,
  shutdownBudget,
  type BaseEnv,
  type SharedProcess,
} from '@aigw/platform';
import type { Registry } from 'prom-client';
import { createGatewayApp, gatewayAwaitsWorker, httpOptions } from '../../api-gateway/src/bootstrap';
import type { GatewayEnv } from '../../api-gateway/src/config/gateway-env';
import { createHealthMonitor, monitorReadiness } from '../../health-monitor/src/bootstrap';
import type { MonitorEnv } from '../../health-monitor/src/config/monitor-env';
import { createRouterWorker, drainWorker, workerClientId, workerReadiness } from '../../router-worker/src/bootstrap';
import type { WorkerEnv } from '../../router-worker/src/config/worker-env';

export const APP_NAME = 'all-in-one';

/** How often a draining process asks whether its gateway still needs its worker to take a job. */
const GATEWAY_NEEDS_POLL_MS = 50;

/** Each hosted app's environment, validated by its own schema from the same process environment. */
export interface AllInOneEnvs {
  gateway: GatewayEnv;
  worker: WorkerEnv;
  /** Null: the health-monitor runs elsewhere (or not at all). */
  monitor: MonitorEnv | null;
}

/**
 * One Node process hosting the api-gateway, a router-worker and optionally the health-monitor, each in a Nest
 * container of its own (ADR 0010). The generate job still goes through the BullMQ queue in Redis (this worker takes
 * other gateways' jobs, other workers take this gateway's); only a reply to this process's gateway skips Redis
 * (LocalReplies). The gateway alone listens: its `/metrics` merges every app's registry and its `/health/ready`
 * includes the others' readiness. It migrates the database; the others skip it.
 */
export class AllInOne {
  private constructor(
    readonly gateway: NestFastifyApplication,
    readonly worker: NestFastifyApplication,
    readonly monitor: NestFastifyApplication | null,
  ) {}

  static async start(envs: AllInOneEnvs): Promise<AllInOne> {
    // In tests, the messages handed over in memory are frozen: a change after the hand-over would throw.
    const shared: SharedProcess = { replies: new LocalReplies({ freeze: envs.gateway.NODE_ENV === 'test' }) };
    const gateway = await createGatewayApp(envs.gateway, shared);
    const worker = await createRouterWorker(migrated(envs.worker), shared);
    // From here the worker takes jobs (this gateway's or any other's): a start that fails now (the monitor, the
    // port) closes as SIGTERM would, so that a job it took finishes instead of stalling behind a process gone.
    let host = new AllInOne(gateway, worker, null);
    try {
      const monitor = envs.monitor === null ? null : await createHealthMonitor(migrated(envs.monitor), shared);
      host = new AllInOne(gateway, worker, monitor);
      host.serveForAll();
      await listen(gateway, httpOptions(envs.gateway), APP_NAME);
    } catch (err) {
      const graceMs = envs.gateway.SHUTDOWN_GRACE_MS;
      await closeAfterFailedStart({ close: () => host.close(graceMs) }, graceMs);
      throw err;
    }
    return host;
  }

  /**
   * SIGTERM in dependency order, within one SHUTDOWN_GRACE_MS. The gateway first: it stops accepting requests and
   * waits for those in flight. This worker keeps taking jobs only while one of them still needs a worker to take its
   * job (on its way to the queue, or queued): then it stops taking jobs, which the queue leaves to the workers that
   * stay, and its running ones get what is left of the drain time. The monitor stops once the worker has. Each app
   * closes its own connections last. Resolves with the work any of them abandoned.
   */
  async close(graceMs: number): Promise<string[]> {
    const drainUntil = Date.now() + shutdownBudget(graceMs).drainMs;
    const apps = this.apps();
    const states = apps.map((app) => app.get(ShutdownState, { strict: false }));
    const gatewayClosed = this.gateway.close();
    await this.whileGatewayNeedsWorker(gatewayClosed, drainUntil);
    await drainWorker(this.worker, Math.max(0, drainUntil - Date.now()));
    await gatewayClosed;
    await Promise.all(apps.slice(1).map((app) => app.close()));
    return states.flatMap((state) => state.abandonedWork);
  }

  /**
   * Returns once the closing gateway needs no worker for its requests any more (a failed read counts as a need), it
   * closed, or `until` passed.
   */
  private async whileGatewayNeedsWorker(gatewayClosed: Promise<void>, until: number): Promise<void> {
    let closed = false;
    const ended = (): void => {
      closed = true;
    };
    // Handled here and awaited again by `close`, which then gets its rejection.
    gatewayClosed.then(ended, ended);
    const hostedWorker = await workerClientId(this.worker).catch(() => null);
    const needs = await gatewayAwaitsWorker(this.gateway, hostedWorker, Math.max(0, until - Date.now()));
    while (!closed && Date.now() < until && (await needs().catch(() => true))) {
      await delay(GATEWAY_NEEDS_POLL_MS);
    }
  }

  private apps(): NestFastifyApplication[] {
    return this.monitor === null ? [this.gateway, this.worker] : [this.gateway, this.worker, this.monitor];
  }

  /** The gateway's `/metrics` and `/health/ready` speak for the hosted apps too. */
  private serveForAll(): void {
    const metrics = this.gateway.get(MetricsExposition, { strict: false });
    const readiness = this.gateway.get(ReadinessChecks, { strict: false });
    metrics.include(this.worker.get<symbol, Registry>(METRICS_REGISTRY, { strict: false }));
    readiness.add('router-worker', workerReadiness(this.worker));
    if (this.monitor !== null) {
      metrics.include(this.monitor.get<symbol, Registry>(METRICS_REGISTRY, { strict: false }));
      readiness.add('health-monitor', monitorReadiness(this.monitor));
    }
  }
}

/** The gateway has run the migrations (it starts first, under the same advisory lock as ever): the others skip them. */
function migrated<T extends BaseEnv>(env: T): T {
  env.DB_SKIP_MIGRATIONS = true;
  return env;
}
