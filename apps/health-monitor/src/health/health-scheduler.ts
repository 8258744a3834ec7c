import { Inject, Injectable, Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import { DAY_MS, HealthJobName, type Catalog, type HealthJobMap } from '@aigw/core';
import { CatalogService, describeError, ENV } from '@aigw/platform';
import type { JobSchedulerJson } from 'bullmq';
import type { Redis } from 'ioredis';
import type { MonitorEnv } from '../config/monitor-env';
import { HealthJobs } from './health-jobs';
import { probeEveryMs } from './probe-interval';
import { gatewayProbeSettings, providerProbeSettings } from './probe-settings';
import { probedSubjects } from './probed-subjects';
import { HealthQueue } from './health-queue';

/** How often undelivered alerts left in the outbox (a monitor died before queueing one) are queued again. */
const RELAY_ALERTS_EVERY_MS = 60_000;

/**
 * How far this replica's clock may be from Redis's before the start warns: BullMQ dates the schedulers' jobs by the
 * clock of the replica that queued them (see `warnOfClockSkew`).
 */
export const CLOCK_SKEW_WARN_MS = 2_000;

/** How long a probe run at once for a change stays in Redis: its id keeps the other replicas from adding it again. */
const PROBE_NOW_KEEP_S = 600;

/** The probe settings a scheduler was last written for (HealthSubjectJobData.settings); undefined when unknown. */
function storedSettings(scheduler: JobSchedulerJson): string | undefined {
  const data: unknown = scheduler.template?.data;
  const settings = typeof data === 'object' && data !== null ? (data as { settings?: unknown }).settings : undefined;
  return typeof settings === 'string' ? settings : undefined;
}

/** One BullMQ job scheduler: which job, for what, how often. */
export interface ScheduleSpec {
  id: string;
  name: HealthJobName;
  data: HealthJobMap[HealthJobName];
  everyMs: number;
  /**
   * Probes and model refreshes: a hash of the settings the probe uses (also in `data`, so its scheduler keeps it).
   * When it changes (a fixed base URL, a new key), the job runs at once rather than at its next interval, so a fixed
   * provider does not stay `failing` (or its model list stale) that long.
   */
  settings?: string;
}

/**
 * The schedules a catalog calls for: a probe per enabled provider (its own `healthIntervalS`, else
 * HEALTH_INTERVAL_S), a model refresh per enabled provider, a probe per gateway an enabled provider routes
 * through, the daily history pruning, and the alert outbox's relay (every minute).
 */
export function schedulesOf(catalog: Catalog, env: MonitorEnv): ScheduleSpec[] {
  const out: ScheduleSpec[] = [];
  const gateways = probedSubjects(catalog).gateways;
  for (const p of catalog.providers) {
    if (!p.enabled) {
      continue;
    }
    const everyMs = probeEveryMs(env, p);
    const settings = providerProbeSettings(p, catalog.gateways);
    out.push({
      id: `probe:provider:${p.id}`,
      name: HealthJobName.ProbeProvider,
      data: { id: p.id, settings },
      everyMs,
      settings,
    });
    // The same settings: a fixed base URL or key has its model list read again at once too, not up to
    // HEALTH_DISCOVERY_INTERVAL_S (an hour) later.
    out.push({
      id: `discover:provider:${p.id}`,
      name: HealthJobName.DiscoverModels,
      data: { id: p.id, settings },
      everyMs: env.HEALTH_DISCOVERY_INTERVAL_S * 1000,
      settings,
    });
  }
  for (const g of catalog.gateways) {
    if (gateways.has(g.id)) {
      const settings = gatewayProbeSettings(g);
      out.push({
        id: `probe:gateway:${g.id}`,
        name: HealthJobName.ProbeGateway,
        data: { id: g.id, settings },
        everyMs: probeEveryMs(env),
        settings,
      });
    }
  }
  out.push({ id: 'prune-health-history', name: HealthJobName.PruneHistory, data: {}, everyMs: DAY_MS });
  out.push({ id: 'prune-usage', name: HealthJobName.PruneUsage, data: {}, everyMs: DAY_MS });
  out.push({ id: 'relay-alerts', name: HealthJobName.RelayAlerts, data: {}, everyMs: RELAY_ALERTS_EVERY_MS });
  return out;
}

/**
 * Keeps one BullMQ job scheduler per probe in Redis, shared by every monitor replica: a scheduler adds one job
 * per interval and one replica takes it, so two replicas do not probe twice. `reconcile()` makes the schedulers
 * follow the catalog (providers added, removed, disabled, intervals changed); it runs at `start` and after every
 * catalog reload from then on (the periodic one and `provider.changed`).
 */
@Injectable()
export class HealthScheduler implements BeforeApplicationShutdown {
  private readonly logger = new Logger('HealthScheduler');
  private chain: Promise<void> = Promise.resolve();
  /** The probe settings each schedule had at this replica's last reconcile (none before the first). */
  private readonly settings = new Map<string, string>();
  private started = false;
  private stopping = false;

  constructor(
    @Inject(ENV) private readonly env: MonitorEnv,
    private readonly catalog: CatalogService,
    private readonly queue: HealthQueue,
    private readonly jobs: HealthJobs,
  ) {}

  /**
   * Reconciles the schedules, follows the catalog's reloads, then takes health jobs. Called once the monitor can
   * serve (its ops port open, see startHealthMonitor), so that a start failing before that neither rewrote the
   * schedules the replicas share nor took a job it would exit holding. Not once the app is stopping.
   */
  async start(): Promise<void> {
    if (this.started || this.stopping) {
      return;
    }
    this.started = true;
    if (!this.env.HEALTH_PROBES_ENABLED) {
      this.logger.log('scheduled probes disabled (HEALTH_PROBES_ENABLED=false): on-demand connection tests only');
      return;
    }
    await this.warnOfClockSkew();
    this.catalog.onReload(() => this.reconcile());
    await this.reconcile();
    // Closed while it reconciled (a SIGTERM during the start): the queue's shutdown has passed, or is under way.
    if (!this.stopping) {
      this.queue.start(this.jobs.process);
    }
  }

  /**
   * Warns when this replica's clock is more than CLOCK_SKEW_WARN_MS from Redis's (one TIME at start). BullMQ dates
   * each scheduler's next job by the clock of the replica that ran the last one, and a replica takes a delayed job
   * once its own clock passes that date: the schedules follow the clock furthest ahead, and when that replica stops
   * the others run no scheduled job (probes, relay, pruning) until their clocks catch up, up to the skew (one probe
   * late by at most the skew when it is under the interval; a skew of hours leaves statuses `unknown` for hours).
   * Recording and alerting are dated by PostgreSQL's clock and stay right; only the timing suffers. A failure to
   * read the time is ignored.
   */
  private async warnOfClockSkew(): Promise<void> {
    try {
      // The queue's own connection (an ioredis client): no connection of its own for one command.
      const client = (await this.queue.queue.client) as unknown as Redis;
      const before = Date.now();
      const [seconds, micros] = await client.time();
      const local = (before + Date.now()) / 2;
      const skew = Math.round(local - (Number(seconds) * 1000 + Number(micros) / 1000));
      if (Math.abs(skew) > CLOCK_SKEW_WARN_MS) {
        this.logger.warn(
          `this replica's clock is ${Math.abs(skew)} ms ${skew > 0 ? 'ahead of' : 'behind'} Redis's: the probe ` +
            'schedules follow the clock of the replica furthest ahead, and when it stops the others run no ' +
            "scheduled probe for up to that difference; keep the replicas' clocks in sync (NTP)",
        );
      }
    } catch (err) {
      this.logger.debug(`clock not compared with Redis's: ${describeError(err)}`);
    }
  }

  beforeApplicationShutdown(): void {
    this.stopping = true;
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
    const changed = this.settingsChanged(wanted, have);
    for (const spec of wanted.values()) {
      const current = have.get(spec.id);
      // Re-upserting an unchanged scheduler would reschedule its next job: leave it alone. One whose settings changed
      // (and no other replica wrote them yet) is probed at once anyway; one written without them (by an earlier
      // release) gets them once.
      const stored = current === undefined ? undefined : storedSettings(current);
      if (
        current !== undefined &&
        Number(current.every) === spec.everyMs &&
        String(current.name) === String(spec.name) &&
        (spec.settings === undefined || (stored !== undefined && (stored === spec.settings || !changed.has(spec.id))))
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
    const probedNow = await this.probeChanged(wanted, changed);
    if (added > 0 || removed > 0 || probedNow > 0) {
      this.logger.log(
        `probe schedules: ${added} added or changed, ${removed} removed, ${wanted.size} in all; ${probedNow} probed now for changed settings`,
      );
    }
  }

  /**
   * The schedules whose probe settings changed: since this replica's last reconcile, or, for one it has not seen yet
   * (it just started), since its scheduler was last written (the settings kept in its template), so that a change
   * made while every monitor was down (a rollout seeding a fixed base URL) is probed at once too. A replica that
   * remembers its own view goes by it: one whose catalog lags behind another's does not take their write for a change.
   */
  private settingsChanged(
    wanted: ReadonlyMap<string, ScheduleSpec>,
    have: ReadonlyMap<string, JobSchedulerJson>,
  ): Map<string, string> {
    const changed = new Map<string, string>();
    for (const spec of wanted.values()) {
      if (spec.settings === undefined) {
        continue;
      }
      const current = have.get(spec.id);
      const before = this.settings.get(spec.id) ?? (current === undefined ? undefined : storedSettings(current));
      if (before !== undefined && before !== spec.settings) {
        changed.set(spec.id, before);
      }
    }
    return changed;
  }

  /**
   * Adds a one-off probe of each subject whose probe settings changed (`settingsChanged`, by id: the settings before).
   * Its id names the change (the settings before and after), so replicas that see the same change add it once (it is
   * kept PROBE_NOW_KEEP_S once done), while a change undone within that time (a key rotated back) is a change of its
   * own, probed at once too (a replica that reloaded between two quick changes, while another saw only both at once,
   * adds one probe more). A new schedule needs none: its first job runs at once.
   */
  private async probeChanged(
    wanted: ReadonlyMap<string, ScheduleSpec>,
    changed: ReadonlyMap<string, string>,
  ): Promise<number> {
    let added = 0;
    for (const spec of wanted.values()) {
      if (spec.settings === undefined) {
        continue;
      }
      const before = changed.get(spec.id);
      if (before !== undefined) {
        await this.queue.queue.add(spec.name, spec.data, {
          jobId: `now-${spec.id.replaceAll(':', '-')}-${before}-${spec.settings}`,
          removeOnComplete: { age: PROBE_NOW_KEEP_S },
          removeOnFail: { age: PROBE_NOW_KEEP_S },
        });
        added++;
      }
      this.settings.set(spec.id, spec.settings);
    }
    for (const id of this.settings.keys()) {
      if (!wanted.has(id)) {
        this.settings.delete(id);
      }
    }
    return added;
  }
}
