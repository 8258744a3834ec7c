import { Injectable } from '@nestjs/common';
import { ErrorCode, GatewayError, type Deployment } from '@aigw/core';
import { mayShowPreference, PreferenceStore, type PreferenceRecord } from '@aigw/entities';
import { CatalogService } from '@aigw/platform';
import type { CircuitStatus } from '@aigw/routing';
import { AuthChanges } from '../auth/auth-changes';
import { ModelAccess } from '../auth/model-access';
import type { AuthContext } from '../http/request-context';
import {
  DeploymentSignals,
  cooldownUntilOf,
  unavailabilityOf,
  type Unavailability,
} from '../models/deployment-signals.service';
import { CONTEXT_PATTERN, CONTEXT_RULE, type PutPreferenceDto } from './preference.dto';

/** A preference as the API shows it. */
export interface PreferenceView {
  /** '' is the user's default. */
  context: string;
  /** The preferred deployment (`provider/model`); a bare model name for rows written before the API. */
  id: string;
  provider: string | null;
  model: string;
  providerDisplayName: string | null;
  modelDisplayName: string;
  /** Whether the preferred deployment can take requests now (as the models listing says). */
  available: boolean;
  /**
   * Why not, as the models listing says (`circuit_open`, `cooldown`, ...), or `deleted` when the deployment it names
   * is no longer in the catalog (its provider or model deleted); null when it can.
   */
  unavailableReason: PreferenceUnavailability | null;
  /** With `cooldown`: when the wait its provider asked for ends (ISO time); null otherwise. */
  cooldownUntil: string | null;
  /** Requests the `preference` policy routed by this preference, and the last one (advanced every second or so). */
  usageCount: number;
  lastUsedAt: string | null;
  /** The user's requests answered by this deployment over the last 30 days, and what they cost. */
  last30Days: { requests: number; costUsd: number };
  createdAt: string;
  updatedAt: string;
}

/** Why a preference cannot be routed by: the models listing's reasons, or its deployment gone from the catalog. */
export type PreferenceUnavailability = Unavailability | 'deleted';

const UNAVAILABLE: Record<Unavailability, { param: 'provider' | 'model'; reason: string }> = {
  provider_disabled: { param: 'provider', reason: 'the provider is disabled' },
  model_disabled: { param: 'model', reason: 'the model is disabled at this provider' },
  circuit_open: { param: 'model', reason: 'its circuit breaker is open after repeated failures' },
  cooldown: { param: 'model', reason: 'its provider asked for a wait (a rate limit or overload with Retry-After)' },
  health_failing: { param: 'provider', reason: 'the health monitor reports the provider failing' },
  model_unserved: {
    param: 'model',
    reason: "the provider's model list does not include it (the health monitor's probe)",
  },
};

/**
 * The caller's model preferences, one per context, read by the worker's `preference` policy. Any role; a key
 * only ever sees and changes its own user's preferences.
 */
@Injectable()
export class PreferencesService {
  constructor(
    private readonly store: PreferenceStore,
    private readonly catalog: CatalogService,
    private readonly signals: DeploymentSignals,
    private readonly access: ModelAccess,
    private readonly authChanges: AuthChanges,
  ) {}

  async list(auth: AuthContext): Promise<{ data: PreferenceView[] }> {
    // A key restricted by allowedModels is shown the preferences naming what it may use only (ModelAccess's rule).
    const [records, circuits] = await Promise.all([
      this.store.list(auth.userId, undefined, auth.policy.allowedModels),
      this.circuits(),
    ]);
    return { data: records.map((r) => this.view(r, circuits)) };
  }

  /** Stores the preference after checking the deployment may be used by this key, exists and is available now. */
  async put(dto: PutPreferenceDto, auth: AuthContext): Promise<PreferenceView> {
    // A key restricted to some models may not prefer another (403 model_not_allowed), whether or not it exists: were
    // an unknown one the 400 below, the difference would tell the key which deployments exist, as it would for a
    // generation (ModelAccess.restrict). So this comes first, on the names alone.
    this.access.restrictDeployment(dto.provider, dto.model, auth);
    const provider = this.catalog.provider(dto.provider);
    // For a restricted key, a provider none of whose deployments it may use is as unknown as one that does not exist.
    if (provider === undefined || !this.access.showsProvider(provider.id, auth)) {
      throw new GatewayError(ErrorCode.InvalidRequest, `Invalid 'provider': there is no provider '${dto.provider}'.`, {
        param: 'provider',
      });
    }
    const deployment = this.catalog
      .deployments()
      .find((d) => d.provider.id === provider.id && d.model.name === dto.model);
    if (deployment === undefined) {
      throw new GatewayError(
        ErrorCode.InvalidRequest,
        `Invalid 'model': provider '${provider.id}' has no model '${dto.model}'.`,
        { param: 'model' },
      );
    }
    const { circuit, health } = await this.signals.current(deployment);
    const problem = unavailabilityOf(
      deployment,
      circuit,
      health,
      this.catalog.unservedDeployments().has(deployment.id),
    );
    if (problem !== null) {
      const { param, reason } = UNAVAILABLE[problem];
      const until = problem === 'cooldown' ? cooldownUntilOf(circuit) : null;
      throw new GatewayError(
        ErrorCode.ModelUnavailable,
        `'${deployment.id}' is not available: ${reason}${until === null ? '' : `, until ${until}`}.`,
        { param },
      );
    }
    const stored = await this.store.upsert(
      auth.userId,
      { context: dto.context ?? '', provider: provider.id, model: deployment.model.name },
      auth.policy.allowedModels,
    );
    // The preferences ride with the key's cached lookup (they key the user's cached answers).
    this.authChanges.changed(auth.userId);
    return this.view(stored, circuit === undefined ? new Map() : new Map([[deployment.id, circuit]]));
  }

  async remove(context: string | undefined, auth: AuthContext): Promise<{ context: string; deleted: true }> {
    const ctx = context ?? '';
    if (context !== undefined && !CONTEXT_PATTERN.test(context)) {
      throw new GatewayError(ErrorCode.InvalidRequest, `Invalid 'context': context must be ${CONTEXT_RULE}.`, {
        param: 'context',
      });
    }
    if (!(await this.mayRemove(auth, ctx)) || !(await this.store.remove(auth.userId, ctx))) {
      const which = ctx === '' ? 'no default preference' : `no preference for context '${ctx}'`;
      throw new GatewayError(ErrorCode.NotFound, `You have ${which}.`, { param: 'context' });
    }
    this.authChanges.changed(auth.userId);
    return { context: ctx, deleted: true };
  }

  /**
   * A restricted key removes only a preference it is shown: one it is not is a preference it does not have (the 404
   * below), and is kept for the user's keys that see it. One primary-key read, for restricted keys only.
   */
  private async mayRemove(auth: AuthContext, context: string): Promise<boolean> {
    const allowed = auth.policy.allowedModels;
    if (allowed === null) {
      return true;
    }
    const route = (await this.store.routes(auth.userId)).find((r) => r.context === context);
    return route === undefined || mayShowPreference(allowed, route.provider, route.model);
  }

  /**
   * The deployment a preference names. Only a row without a provider (a bare model name) stands for any deployment
   * serving the model, as routing reads it; `provider/model` is that one deployment, or none once it was deleted.
   */
  private deploymentOf(r: PreferenceRecord): Deployment | undefined {
    const id = r.provider === null ? r.model : `${r.provider}/${r.model}`;
    const named = this.catalog.deployments().find((d) => d.id === id);
    return named ?? (r.provider === null ? this.catalog.servingDeployments(r.model)[0] : undefined);
  }

  /**
   * The circuit states `available` reads, as the models listing reads them: of every deployment, so both share
   * one cached Redis read (at most one per CIRCUIT_CACHE_MS).
   */
  private circuits(): Promise<ReadonlyMap<string, CircuitStatus>> {
    return this.signals.circuits(this.catalog.deployments().map((d) => d.id));
  }

  private view(r: PreferenceRecord, circuits: ReadonlyMap<string, CircuitStatus>): PreferenceView {
    const d = this.deploymentOf(r);
    const provider = r.provider === null ? undefined : this.catalog.provider(r.provider);
    const slow = this.signals.signals();
    const circuit = d === undefined ? undefined : circuits.get(d.id);
    const unavailable: PreferenceUnavailability | null =
      d === undefined
        ? 'deleted'
        : unavailabilityOf(d, circuit, slow.health.get(d.provider.id), this.catalog.unservedDeployments().has(d.id));
    return {
      context: r.context,
      id: r.provider === null ? r.model : `${r.provider}/${r.model}`,
      provider: r.provider,
      model: r.model,
      providerDisplayName: provider === undefined ? null : (provider.displayName ?? provider.id),
      modelDisplayName: d?.model.displayName ?? r.model,
      available: unavailable === null,
      unavailableReason: unavailable,
      cooldownUntil: unavailable === 'cooldown' ? cooldownUntilOf(circuit) : null,
      usageCount: r.usageCount,
      lastUsedAt: r.lastUsedAt?.toISOString() ?? null,
      last30Days: { requests: r.requests, costUsd: Math.round(r.costUsd * 1e9) / 1e9 },
      createdAt: r.createdAt.toISOString(),
      updatedAt: r.updatedAt.toISOString(),
    };
  }
}
