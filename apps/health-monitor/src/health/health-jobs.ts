import { performance } from 'node:perf_hooks';
import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import {
  DAY_MS,
  detectCapabilities,
  HealthJobName,
  ProviderCallError,
  type ProviderSpec,
  type Route,
} from '@aigw/core';
import {
  ProviderHealthStore,
  usageCutoffs,
  UsageRetentionStore,
  type HealthRules,
  type HealthSubject,
} from '@aigw/entities';
import { CatalogService, describeError, ENV, REDIS, RedisErrors, RedisKeys, usageRetentionOf } from '@aigw/platform';
import { RouteMemory, routingKeyPrefix } from '@aigw/routing';
import { UnrecoverableError } from 'bullmq';
import type { Redis } from 'ioredis';
import type { MonitorEnv } from '../config/monitor-env';
import { Alerts, subjectLabel } from './alerts';
import type { HealthJob } from './health-queue';
import { MonitorMetrics } from './monitor-metrics';
import { ProbeCycleLock } from './probe-cycle-lock';
import { probeEveryMs } from './probe-interval';
import { gatewayProbeSettings, providerProbeSettings } from './probe-settings';
import { probedSubjects } from './probed-subjects';
import { Prober, type ProbedRoute } from './prober';

/**
 * The routed models (by upstream name) none of the probed routes serves, by the model lists the probes read; undefined
 * when a route could not tell (it failed, a completion probe, a list that names no models): the last verdict stands
 * (`ProviderHealthStore.recordTimedProbe`). An `auto` provider's deployment one route lacks may be served by the other
 * (the worker tries the gateway after a direct 404): only what both lack counts.
 */
export function unservedVerdict(routes: readonly ProbedRoute[]): string[] | undefined {
  let verdict: string[] | undefined;
  for (const { probe } of routes) {
    if (probe.modelsChecked !== true) {
      return undefined;
    }
    const missing = new Set(probe.unservedModels ?? []);
    verdict = verdict === undefined ? [...missing] : verdict.filter((m) => missing.has(m));
  }
  return verdict;
}

/** Probe intervals a recorded status holds without a newer probe (see `record`). */
export const STATUS_HOLDS_FOR_PROBES = 3;

/**
 * What each health job does. Probes are never billed (unless the catalog opts a provider in to `probe:
 * completion`) and never count as usage: nothing here touches usage_records or the quota counters.
 */
@Injectable()
export class HealthJobs implements OnApplicationBootstrap {
  private readonly logger = new Logger('HealthMonitor');
  private readonly rules: HealthRules;
  private readonly routes: RouteMemory;
  private readonly cycles: ProbeCycleLock;

  constructor(
    @Inject(ENV) private readonly env: MonitorEnv,
    private readonly catalog: CatalogService,
    private readonly store: ProviderHealthStore,
    private readonly usage: UsageRetentionStore,
    private readonly prober: Prober,
    private readonly alerts: Alerts,
    private readonly metrics: MonitorMetrics,
    @Inject(REDIS) redis: Redis,
    private readonly keys: RedisKeys,
    private readonly redisErrors: RedisErrors,
  ) {
    this.rules = {
      failureThreshold: env.HEALTH_FAILURE_THRESHOLD,
      slowMs: env.HEALTH_SLOW_MS,
      window: env.HEALTH_WINDOW,
      recoveryThreshold: env.HEALTH_RECOVERY_THRESHOLD,
    };
    // The workers' route memory (same keys): what a probe learns, the next request uses.
    this.routes = new RouteMemory(redis, routingKeyPrefix(keys.prefix));
    this.cycles = new ProbeCycleLock(redis);
  }

  /**
   * Runs a probe cycle of `subject` unless one of the same settings is already running (on any replica): a second
   * run of one cycle would probe twice and count one failure twice. Cycles of other settings (a probe-now of a
   * changed key beside a scheduled probe of the old one) do not wait for each other: the store keeps the newer.
   */
  private async oneCycle(
    subject: HealthSubject,
    settings: string,
    everyMs: number,
    cycle: () => Promise<void>,
  ): Promise<void> {
    const key = this.keys.key('health', 'probing', subject.kind, subject.id, settings);
    const ran = await this.cycles.run(key, everyMs, cycle, (err) => this.redisErrors.report('probe_lock', err));
    if (!ran) {
      this.logger.debug(`${subject.kind} ${subject.id}: a probe of it is already running, this one is skipped`);
    }
  }

  /**
   * Whether `subject` is still to be probed as PostgreSQL has it now, not only as the catalog in memory does: a job
   * queued before an admin disabled or removed it may run before this replica's catalog reloads (the
   * `provider.changed` message on its way, or lost: then until the periodic reload), and would call a provider (a
   * billed completion, for one probed so) the admin turned off. Found gone: the catalog reloads now, which drops its
   * schedules. One PostgreSQL read per probe or discovery job, none on the request path. PostgreSQL unreachable: the
   * catalog's word stands (the probe's record fails anyway).
   */
  private async stillProbed(subject: HealthSubject): Promise<boolean> {
    let probed: boolean;
    try {
      probed = await this.store.stillProbed(subject);
    } catch (err) {
      this.logger.debug(`${subject.kind} ${subject.id}: not checked before its probe: ${describeError(err)}`);
      return true;
    }
    if (!probed) {
      this.logger.log(`${subject.kind} ${subject.id}: disabled or removed since its probe was queued: not probed`);
      this.catalog.refresh('a probed subject was disabled or removed');
    }
    return probed;
  }

  /**
   * Records the usage edges of this monitor's retention as it starts (`recordUsageEdges`), before any job runs.
   */
  async onApplicationBootstrap(): Promise<void> {
    await this.recordUsageEdges(Date.now());
  }

  readonly process = async (job: HealthJob, token?: string): Promise<void> => {
    const name = job.name;
    switch (name) {
      case HealthJobName.ProbeProvider:
        return this.probeProvider((job.data as { id: string }).id);
      case HealthJobName.ProbeGateway:
        return this.probeGateway((job.data as { id: string }).id);
      case HealthJobName.DiscoverModels:
        return this.discoverModels((job.data as { id: string }).id);
      case HealthJobName.PruneHistory:
        return this.prune();
      case HealthJobName.PruneUsage:
        return this.pruneUsage();
      case HealthJobName.SendAlert:
        return this.alerts.deliver(job, token);
      case HealthJobName.RelayAlerts:
        return this.alerts.relay();
      default:
        throw new UnrecoverableError(`unknown health job '${String(name)}'`);
    }
  };

  /** Probes every route of the provider, records it, alerts on a transition, and teaches the route memory. */
  async probeProvider(id: string): Promise<void> {
    const provider = this.catalog.provider(id);
    if (provider === undefined || !provider.enabled) {
      // Removed or disabled since the schedule was made: the next reconcile drops the schedule.
      return;
    }
    const subject: HealthSubject = { kind: 'provider', id };
    if (!(await this.stillProbed(subject))) {
      return;
    }
    const gateways = this.catalog.current.gateways;
    const everyMs = probeEveryMs(this.env, provider);
    await this.oneCycle(subject, providerProbeSettings(provider, gateways), everyMs, async () => {
      const began = performance.now();
      const routes = await this.prober.probeProvider(provider, gateways);
      await this.record(subject, routes, began, everyMs, unservedVerdict(routes));
      // Deleted while it was probed (the catalog reloaded meanwhile): its remembered route was just forgotten.
      if (provider.routing === 'auto' && this.catalog.provider(id) !== undefined) {
        await this.learnRoute(provider, routes);
      }
    });
  }

  /**
   * Probes a gateway on its own, while an enabled provider routes through it (`probedSubjects`): one whose last such
   * provider was disabled is no longer probed, though its job was queued before.
   */
  async probeGateway(id: string): Promise<void> {
    const gateway = this.catalog.current.gateways.find((g) => g.id === id);
    if (gateway === undefined || !probedSubjects(this.catalog.current).gateways.has(id)) {
      return;
    }
    const subject: HealthSubject = { kind: 'gateway', id };
    if (!(await this.stillProbed(subject))) {
      return;
    }
    const everyMs = probeEveryMs(this.env);
    await this.oneCycle(subject, gatewayProbeSettings(gateway), everyMs, async () => {
      const began = performance.now();
      await this.record(subject, [await this.prober.probeGateway(gateway)], began, everyMs);
    });
  }

  /**
   * Records a probe, begun at `began` (`performance.now()`), of a subject probed every `everyMs`. Its status holds
   * for STATUS_HOLDS_FOR_PROBES intervals and a probe's timeout: probes that come late (a busy monitor, a restart)
   * keep it, while a monitor that stopped leaves readers an `unknown` rather than a stale `failing` for good. The
   * probe is recorded at its start, dated by PostgreSQL's clock (`recordTimedProbe`), not this replica's: one that
   * began before the last recorded (a probe of settings changed meanwhile, still waiting for its timeout) does not
   * undo it (`recordProbe`), and a replica whose clock runs ahead does not make the others' probes look older.
   */
  private async record(
    subject: HealthSubject,
    routes: ProbedRoute[],
    began: number,
    everyMs: number,
    unserved?: string[],
  ): Promise<void> {
    for (const { check } of routes) {
      this.metrics.probed(subjectLabel(subject), check.route, check.ok, check.latencyMs);
    }
    const recorded = await this.store.recordTimedProbe(
      subject,
      routes.map((r) => r.check),
      { startedAt: began, holdsForMs: STATUS_HOLDS_FOR_PROBES * everyMs + this.env.PROBE_TIMEOUT_MS },
      this.rules,
      // An alert to deliver is written with the transition (the outbox): a crash before it is queued loses none. The
      // models the provider's lists lack go with the status: the workers read both with the catalog.
      { outbox: this.env.ALERT_WEBHOOK_URL !== undefined, ...(unserved === undefined ? {} : { unserved }) },
    );
    if (recorded !== null) {
      // Alerts are ordered by when their transition was recorded, by PostgreSQL's clock under the subject's lock: the
      // order of the transitions whichever replicas recorded them, however far apart their own clocks are.
      await this.alerts.onRecorded(subject, recorded, recorded.recordedAt);
    }
  }

  /**
   * An `auto` provider whose direct route fails while its gateway works: the workers should start with the
   * gateway. One whose direct route works again while they remember the gateway (a worker's failed call, or this):
   * the memory goes, so traffic takes the direct route again within a probe interval rather than when the memory
   * expires (a day). One GET per probe of an `auto` provider, here and not on the request path.
   */
  private async learnRoute(provider: ProviderSpec, routes: ProbedRoute[]): Promise<void> {
    const ok = (route: Route) => routes.some((r) => r.probe.route === route && r.probe.ok);
    const direct = ok('direct');
    if (!direct && !ok('gateway')) {
      return;
    }
    try {
      const remembered = await this.routes.get(provider.id);
      if (!direct && remembered !== 'gateway') {
        await this.routes.set(provider.id, 'gateway');
        this.logger.log(`provider ${provider.id}: direct route fails, gateway works: routing through the gateway`);
      } else if (direct && remembered === 'gateway') {
        await this.routes.forget(provider.id);
        this.logger.log(`provider ${provider.id}: direct route works again: routing direct`);
      }
    } catch (err) {
      this.redisErrors.report('route_record', err);
    }
  }

  /**
   * Reads the provider's model list through the route that works (the remembered one, else in catalog order) and
   * stores it with guessed capabilities. Never enables anything: the admin API shows what differs from the catalog.
   */
  async discoverModels(id: string): Promise<void> {
    const provider = this.catalog.provider(id);
    if (provider === undefined || !provider.enabled || !(await this.stillProbed({ kind: 'provider', id }))) {
      return;
    }
    const routes: Route[] =
      provider.routing === 'direct' ? ['direct'] : provider.routing === 'gateway' ? ['gateway'] : ['direct', 'gateway'];
    if (provider.routing === 'auto' && (await this.routes.get(id).catch(() => null)) === 'gateway') {
      routes.reverse();
    }
    for (const route of routes) {
      try {
        const names = await this.prober.listModels(provider, route, this.catalog.current.gateways);
        const kind = route === 'gateway' ? 'openai' : provider.kind;
        const models = [...new Set(names)].map((model) => ({ model, capabilities: detectCapabilities(kind, model) }));
        // Dated by PostgreSQL's clock: a replica whose clock runs ahead does not make later refreshes look older.
        await this.store.recordModels(id, models);
        return;
      } catch (err) {
        // Refused by the adapter before any call (an Azure OpenAI deployment URL serves no model list): nothing was
        // asked of the provider and nothing is recorded, so no list claims the catalog's models are not served.
        if (!(err instanceof ProviderCallError && err.untranslatable)) {
          this.logger.debug(`provider ${id}: model list over ${route} unavailable: ${describeError(err)}`);
        }
      }
    }
  }

  async prune(): Promise<void> {
    const before = new Date(Date.now() - this.env.HEALTH_RETENTION_DAYS * DAY_MS);
    const removed = await this.store.prune(before);
    if (removed > 0) {
      this.logger.log(`pruned ${removed} health checks older than ${this.env.HEALTH_RETENTION_DAYS} days`);
    }
  }

  /**
   * Records how far usage is actually gone under this monitor's retention at `now`, deleting nothing (one
   * statement; a retention that keeps everything records none): per level, the earlier of its cutoff and the oldest
   * row still present (`recordGoneEdges`). During a rolling upgrade a monitor of the previous release may still run
   * the daily `prune-usage` job, which deletes without recording: from the edges recorded here the api-gateway's
   * analytics stop reading the rows it pruned up to this instant, rather than until this release's next prune (up
   * to a day). Edges only move forward, so only rows already gone are claimed: a monitor that has not pruned (or
   * never will) leaves the rows it would prune readable. A failure is logged: the next prune records them.
   */
  async recordUsageEdges(now: number): Promise<void> {
    const retention = usageRetentionOf(this.env);
    try {
      await this.usage.recordGoneEdges(usageCutoffs(retention, now));
    } catch (err) {
      this.logger.warn(
        `usage retention edges not recorded at start (the next prune records them): ${describeError(err)}`,
      );
    }
  }

  /**
   * Deletes usage past USAGE_RETENTION_DAYS (usage_records) and the rollups' retentions, oldest first in bounded
   * batches, after recording how far it goes (the edges the api-gateway's analytics read: this process's retention
   * is the one that counts). One job scheduler shared by every monitor replica: exactly one process prunes at a time.
   */
  async pruneUsage(): Promise<void> {
    const retention = usageRetentionOf(this.env);
    if (retention.rawDays === 0 && retention.hourlyDays === 0 && retention.dailyDays === 0) {
      return;
    }
    const removed = await this.usage.prune(retention, Date.now());
    if (removed.records + removed.hourly + removed.daily > 0) {
      this.logger.log(
        `pruned usage past its retention: ${removed.records} usage records, ${removed.hourly} hourly and ` +
          `${removed.daily} daily rollup rows`,
      );
    }
  }
}
