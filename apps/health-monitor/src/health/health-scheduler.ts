import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { HealthJobName, type Catalog, type HealthJobMap } from '@aigw/core';
import { CatalogService, describeError, ENV } from '@aigw/platform';
import type { MonitorEnv } from '../config/monitor-env';
import { HealthJobs } from './health-jobs';
import { HealthQueue } from './health-queue';

const DAY_MS = 86_400_000;

/** One BullMQ job scheduler: which job, for what, how often. */
export interface ScheduleSpec {
  id: string;
  name: HealthJobName;
  data: HealthJobMap[HealthJobName];
  everyMs: number;
}

/**
 * The schedules a catalog calls for: a probe per enabled provider (its own `healthIntervalS`, else
 * HEALTH_INTERVAL_S), a model refresh per enabled provider, a probe per gateway an enabled provider routes
 * through, and the daily history pruning.
 */
export function schedulesOf(catalog: Catalog, env: MonitorEnv): ScheduleSpec[] {
  const out: ScheduleSpec[] = [];
  const gateways = new Set<string>();
  for (const p of catalog.providers) {
    if (!p.enabled) {
      continue;
    }
    const everyMs = (p.healthIntervalS ?? env.HEALTH_INTERVAL_S) * 1000;
    out.push({ id: `probe:provider:${p.id}`, name: HealthJobName.ProbeProvider, data: { id: p.id }, everyMs });
    out.push({
      id: `discover:provider:${p.id}`,
      name: HealthJobName.DiscoverModels,
      data: { id: p.id },
      everyMs: env.HEALTH_DISCOVERY_INTERVAL_S * 1000,
    });
    if (p.routing !== 'direct' && p.gateway !== undefined) {
      gateways.add(p.gateway);
    }
  }
  for (const g of catalog.gateways) {
    if (gateways.has(g.id)) {
      out.push({
        id: `probe:gateway:${g.id}`,
        name: HealthJobName.ProbeGateway,
        data: { id: g.id },
        everyMs: env.HEALTH_INTERVAL_S * 1000,
      });
    }
  }
  out.push({ id: 'prune-health-history', name: HealthJobName.PruneHistory, data: {}, everyMs: DAY_MS });
  return out;
}

/**
 * Keeps one BullMQ job scheduler per probe in Redis, shared by every monitor replica: a scheduler adds one job
 * per interval and one replica takes it, so two replicas do not probe twice. `reconcile()` makes the schedulers
 * follow the catalog (providers added, removed, disabled, intervals changed); it runs at boot and after every
 * catalog reload (the periodic one and `provider.changed`).
 */
@Injectable()
export class HealthScheduler implements OnApplicationBootstrap {
  private readonly logger = new Logger('HealthScheduler');
  private chain: Promise<void> = Promise.resolve();

  constructor(
    @Inject(ENV) private readonly env: MonitorEnv,
    private readonly catalog: CatalogService,
    private readonly queue: HealthQueue,
    private readonly jobs: HealthJobs,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (!this.env.HEALTH_PROBES_ENABLED) {
      this.logger.log('scheduled probes disabled (HEALTH_PROBES_ENABLED=false): on-demand connection tests only');
      return;
    }
    this.catalog.onReload(() => this.reconcile());
    await this.reconcile();
    this.queue.start(this.jobs.process);
  }

  /**
   * Brings the schedulers in line with the catalog in memory. Calls queue one after the other; a failure (Redis
   * away) is logged and the next reload tries again.
   */
  reconcile(): Promise<void> {
    const run = this.chain.then(() => this.sync());
    this.chain = run.catch((err: unknown) =>
      this.logger.warn(`probe schedules not updated (retried at the next catalog reload): ${describeError(err)}`),
    );
    return this.chain;
  }

  private async sync(): Promise<void> {
    const wanted = new Map(schedulesOf(this.catalog.current, this.env).map((s) => [s.id, s]));
    const existing = await this.queue.queue.getJobSchedulers(0, -1);
    const have = new Map(existing.map((s) => [s.key, s]));
    let added = 0;
    let removed = 0;
    for (const s of existing) {
      if (!wanted.has(s.key)) {
        await this.queue.queue.removeJobScheduler(s.key);
        removed++;
      }
    }
    for (const spec of wanted.values()) {
      const current = have.get(spec.id);
      // Re-upserting an unchanged scheduler would reschedule its next job: leave it alone.
      if (
        current !== undefined &&
        Number(current.every) === spec.everyMs &&
        String(current.name) === String(spec.name)
      ) {
        continue;
      }
      await this.queue.queue.upsertJobScheduler(
        // BullMQ types the scheduler id as the job name type; any string is accepted.
        spec.id as HealthJobName,
        { every: spec.everyMs },
        { name: spec.name, data: spec.data, opts: { removeOnComplete: true, removeOnFail: 100 } },
      );
      added++;
    }
    if (added > 0 || removed > 0) {
      this.logger.log(`probe schedules: ${added} added or changed, ${removed} removed, ${wanted.size} in all`);
    }
  }
}
