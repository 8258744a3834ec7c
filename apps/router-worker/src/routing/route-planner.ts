import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import {
  ErrorCode,
  GatewayError,
  preferenceMatchOf,
  requestLabel,
  type Deployment,
  type GenerationRequest,
  type PreferenceChain,
  type RoutingPolicy,
} from '@aigw/core';
import { CatalogService, ENV, KEY_SEPARATOR as SEP } from '@aigw/platform';
import type { WorkerEnv } from '../config/worker-env';
import { WorkerMetrics } from '../metrics/worker-metrics';
import { CircuitGuard } from './circuit-guard';
import { LatencyBook } from './latency-book';
import { PreferenceReader } from './preference-reader';
import { PreferenceUsage } from './preference-usage';
import { RotationCounter } from './rotation-counter';
import {
  orderingPolicyOf,
  planRoute,
  policyOf,
  roundRobinKeyOf,
  routeNeedOf,
  type ResolvedPolicy,
  type RouteNeed,
  type RoutePlan,
  type RouteSignals,
} from './route-plan';
import { ROUTING_CONFIG, type RoutingConfig } from './routing-config';

/** At most one catalog read a second for requests naming a model this worker's catalog lacks. */
const MISS_RELOAD_EVERY_MS = 1_000;

/**
 * Turns a request into its ordered candidates: estimate, filter by what the request needs, read the signals
 * its policy uses (circuit states always; latencies, the round-robin counter or the user's preferences only
 * when needed, in one concurrent batch), filter out open circuits, order. Every decision is logged at debug
 * level and counted.
 */
@Injectable()
export class RoutePlanner implements OnApplicationBootstrap {
  private readonly logger = new Logger('Routing');
  /** Decision lines are built only when someone reads them. */
  private readonly debug: boolean;
  /** Whether ROUTING_DEFAULT_MODEL named a deployment at the last check (null: not checked yet). */
  private defaultServed: boolean | null = null;
  /** Epoch ms of the last catalog read a request's unknown model asked for (see `route`). */
  private lastMissReloadAt = 0;

  constructor(
    @Inject(ENV) env: WorkerEnv,
    private readonly catalog: CatalogService,
    private readonly circuits: CircuitGuard,
    private readonly latency: LatencyBook,
    private readonly rotation: RotationCounter,
    private readonly preferences: PreferenceReader,
    private readonly preferenceUsage: PreferenceUsage,
    @Inject(ROUTING_CONFIG) private readonly config: RoutingConfig,
    private readonly metrics: WorkerMetrics,
  ) {
    this.debug = env.LOG_LEVEL === 'debug' || env.LOG_LEVEL === 'verbose';
  }

  /** ROUTING_DEFAULT_MODEL is checked against the catalog at start and after each reload: said once per change. */
  onApplicationBootstrap(): void {
    const model = this.config.defaultModel;
    if (model === null) {
      return;
    }
    const check = (): void => {
      const served = this.catalog.servingDeployments(model).length > 0;
      if (served === this.defaultServed) {
        return;
      }
      if (!served) {
        this.logger.warn(
          `ROUTING_DEFAULT_MODEL '${model}' names no enabled deployment of the catalog: the preference policy skips it`,
        );
      } else if (this.defaultServed === false) {
        // A warning, as the line it takes back: LOG_LEVEL=warn showed that and hid this.
        this.logger.warn(`ROUTING_DEFAULT_MODEL '${model}' is served again`);
      }
      this.defaultServed = served;
    };
    check();
    this.catalog.onReload(check);
  }

  /**
   * `countUse`: count the preference used (`countPreferenceUse`); false for a job's re-run, whose request a previous
   * run planned, and counted, already.
   */
  async plan(request: GenerationRequest, countUse = true): Promise<RoutePlan> {
    const { deployments, route } = await this.route(request);
    const resolved = policyOf(route.selection.target, request, this.config.defaultPolicy);
    try {
      const signals = await this.signals(
        request,
        route.selection.candidates.map((d) => d.id),
        resolved.policy,
        route,
      );
      const plan = planRoute(deployments, route, resolved.policy, signals);
      if (countUse) {
        this.countPreferenceUse(request, plan, signals.preferences);
      }
      this.decided(request, resolved, plan, signals.preferences);
      return plan;
    } catch (err) {
      if (err instanceof GatewayError) {
        this.metrics.routingDecisions.add(`${resolved.policy}${SEP}${err.code}`, {
          policy: resolved.policy,
          outcome: err.code,
        });
        this.logger.debug(`request ${requestLabel(request)}: policy ${resolved.policy}, nothing to call: ${err.code}`);
      }
      throw err;
    }
  }

  /**
   * What the request needs, against the catalog. The gateway checked the model against its own catalog: one this
   * worker does not know may be an admin change newer than its last read (the gateway that made it reloaded before
   * answering; this worker's `provider.changed` may still be on its way). Such a request reads the catalog again
   * rather than fail with a 404 for a provider created a moment ago (found by exploratory testing: one request in five
   * sent right after the 201). Only on that path, and at most one read a second.
   */
  private async route(request: GenerationRequest): Promise<{ deployments: readonly Deployment[]; route: RouteNeed }> {
    let deployments = this.catalog.deployments();
    let route = routeNeedOf(request, deployments, this.config.avgCompletionTokens);
    const now = Date.now();
    if (
      route.selection.failure?.code === ErrorCode.ModelNotFound &&
      this.catalog.readAt < request.receivedAt &&
      now - this.lastMissReloadAt >= MISS_RELOAD_EVERY_MS
    ) {
      this.lastMissReloadAt = now;
      try {
        await this.catalog.reload();
      } catch (err) {
        this.logger.warn(`catalog reload for an unknown model failed: ${err instanceof Error ? err.message : 'error'}`);
      }
      deployments = this.catalog.deployments();
      route = routeNeedOf(request, deployments, this.config.avgCompletionTokens);
    }
    return { deployments, route };
  }

  private async signals(
    request: GenerationRequest,
    ids: string[],
    policy: RoutingPolicy,
    route: RouteNeed,
  ): Promise<RouteSignals> {
    if (route.selection.failure !== null) {
      // Nothing serves the request whatever the circuits say: no need to ask Redis.
      return { circuits: new Map() };
    }
    const direct = policy === 'preference' ? null : policy;
    const [circuits, preferences, recent, counter] = await Promise.all([
      this.circuits.statesFor(request, ids),
      policy === 'preference'
        ? this.preferences.chainFor(request.userId, request.context, request.cache?.preferences)
        : undefined,
      direct === 'latency' ? this.latency.recent(ids, request.stream) : undefined,
      direct === 'round-robin' ? this.rotation.next(roundRobinKeyOf(route.selection.target)) : undefined,
    ]);
    const signals: RouteSignals = {
      circuits,
      preferences,
      failingProviders: this.catalog.failingProviders(),
      unservedDeployments: this.catalog.unservedDeployments(),
    };
    const ordering = orderingPolicyOf(policy, preferences);
    if (ordering === 'latency') {
      signals.recentLatencyMs = recent ?? (await this.latency.recent(ids, request.stream));
      signals.historicalLatencyMs = this.latency.historical();
    }
    if (ordering === 'round-robin') {
      signals.roundRobinCounter = counter ?? (await this.rotation.next(roundRobinKeyOf(route.selection.target)));
    }
    return signals;
  }

  /**
   * A user's preference is used when it put the deployment tried first at the head of the plan. Counted in
   * memory (PreferenceUsage writes the counts every second), so this costs no round trip.
   */
  private countPreferenceUse(request: GenerationRequest, plan: RoutePlan, prefs: PreferenceChain | undefined): void {
    const first = plan.candidates[0];
    if (prefs === undefined || first === undefined) {
      return;
    }
    // Counted for the deployment the preference named when read: the row may point elsewhere by the flush.
    switch (preferenceMatchOf(first, prefs)) {
      case 'context':
        this.preferenceUsage.record(request.userId, request.context ?? '', prefs.context ?? '');
        break;
      case 'userDefault':
        this.preferenceUsage.record(request.userId, '', prefs.userDefault ?? '');
        break;
      case 'systemDefault':
      case null:
        break;
    }
  }

  private decided(
    request: GenerationRequest,
    resolved: ResolvedPolicy,
    plan: RoutePlan,
    preferences: PreferenceChain | undefined,
  ): void {
    this.metrics.routingDecisions.add(`${plan.policy}${SEP}routed`, { policy: plan.policy, outcome: 'routed' });
    if (!this.debug) {
      return;
    }
    const excluded = plan.excluded.map((e) => `${e.deploymentId} (${e.reason})`).join(', ');
    const prefs =
      preferences === undefined
        ? ''
        : `, preferences [${[preferences.context, preferences.userDefault, preferences.systemDefault]
            .map((p) => p ?? '-')
            .join(', ')}] then ${preferences.then ?? 'cost'}`;
    this.logger.debug(
      `request ${requestLabel(request)}: policy ${plan.policy} (${resolved.source}${prefs}), ` +
        `~${plan.estimate.promptTokens}+${plan.estimate.completionTokens} tokens, ` +
        `order [${plan.candidates.map((d) => d.id).join(', ')}]` +
        (excluded === '' ? '' : `, excluded [${excluded}]`),
    );
  }
}
