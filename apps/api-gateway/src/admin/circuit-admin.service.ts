import { Inject, Injectable, Logger } from '@nestjs/common';
import { DEFAULT_CIRCUIT_CONFIG, ErrorCode, GatewayError, type CircuitState } from '@aigw/core';
import { AuditLogStore } from '@aigw/entities';
import { CatalogService, ENV, REDIS } from '@aigw/platform';
import { CircuitBreakerStore, forgetDeletedRouting, routingKeyPrefix, type DeletedRouting } from '@aigw/routing';
import type { Redis } from 'ioredis';
import type { GatewayEnv } from '../config/gateway-env';
import type { AuthContext } from '../http/request-context';
import { actorOf } from './admin-views';

export interface CircuitResetView {
  provider: string;
  deployments: {
    id: string;
    previousState: CircuitState;
    state: CircuitState;
    /**
     * Set when the reset ended a cooldown (its provider had asked for a wait: a 429, 503 or 529 with Retry-After):
     * what was left of it and the status that asked for it. Such a deployment's circuit is closed, so its states
     * alone (closed -> closed) told a reset that changed nothing.
     */
    endedCooldown?: { remainingMs: number; status: number };
  }[];
}

type ResetDeployment = CircuitResetView['deployments'][number];

/** A deployment as the audit entry's `before` has it: its state, and the cooldown the reset ended. */
function auditedBefore(d: ResetDeployment): Record<string, unknown> {
  return d.endedCooldown === undefined
    ? { id: d.id, state: d.previousState }
    : { id: d.id, state: d.previousState, cooldown: d.endedCooldown };
}

/** For the log line: `pa/m (cooldown of a 429 ended)`. */
function describe(d: ResetDeployment): string {
  return d.endedCooldown === undefined ? d.id : `${d.id} (cooldown of a ${d.endedCooldown.status} ended)`;
}

/** Admin control of the circuit breakers the workers share in Redis. */
@Injectable()
export class CircuitAdminService {
  private readonly logger = new Logger(CircuitAdminService.name);
  private readonly circuits: CircuitBreakerStore;

  constructor(
    @Inject(ENV) private readonly env: GatewayEnv,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly catalog: CatalogService,
    private readonly audit: AuditLogStore,
  ) {
    // Reset only writes a closed state; the thresholds of the workers' own config do not matter here.
    this.circuits = new CircuitBreakerStore(redis, routingKeyPrefix(env.REDIS_PREFIX), DEFAULT_CIRCUIT_CONFIG);
  }

  /** Closes the circuit of every deployment of `providerId` (or only of `model`), and audits who did it. */
  async reset(providerId: string, model: string | undefined, auth: AuthContext): Promise<CircuitResetView> {
    const provider = this.catalog.provider(providerId);
    if (!provider) {
      throw new GatewayError(ErrorCode.NotFound, `No provider '${providerId}'.`, { param: 'id' });
    }
    const models = provider.models.filter((m) => model === undefined || m.name === model);
    if (models.length === 0) {
      throw new GatewayError(ErrorCode.ModelNotFound, `Provider '${providerId}' has no model '${model ?? ''}'.`, {
        param: 'model',
      });
    }
    const deployments = await this.resetAll(provider.id, models);
    await this.audit.record({
      actor: actorOf(auth),
      action: 'circuit.reset',
      target: provider.id,
      before: { deployments: deployments.map(auditedBefore) },
      after: { deployments: deployments.map((d) => ({ id: d.id, state: d.state })) },
    });
    this.logger.log(`circuit reset by api-key ${auth.apiKeyId}: ${deployments.map(describe).join(', ')}`);
    return { provider: provider.id, deployments };
  }

  /**
   * After an admin changed how a provider is called (`cause`: its key, URL, kind, routing, gateway, plugin or
   * timeout), forgets what its circuits learnt from the old settings: an open circuit closes at once, so the next
   * request tries the corrected provider instead of waiting out CB_OPEN_MS, and a closed one drops its failure
   * count, and a cooldown its provider asked for ends (it was asked of the old settings: another key, another
   * account). Audited as `circuit.reset` (the cause beside the states) when a circuit was not closed or a cooldown
   * ended; a Redis failure
   * is logged, not thrown, since the change itself has been made (the circuit then half-opens as usual).
   */
  async forgetAfterChange(providerId: string, cause: string, auth: AuthContext): Promise<void> {
    const provider = this.catalog.provider(providerId);
    if (!provider) {
      return;
    }
    try {
      const changed = (await this.resetAll(provider.id, provider.models)).filter(
        (d) => d.previousState !== 'closed' || d.endedCooldown !== undefined,
      );
      if (changed.length === 0) {
        return;
      }
      await this.audit.record({
        actor: actorOf(auth),
        action: 'circuit.reset',
        target: provider.id,
        before: { deployments: changed.map(auditedBefore) },
        after: { deployments: changed.map((d) => ({ id: d.id, state: d.state })), cause },
      });
      this.logger.log(`circuit closed by ${cause} of ${provider.id}: ${changed.map(describe).join(', ')}`);
    } catch (err) {
      this.logger.warn(`closing ${provider.id}'s circuits after ${cause} failed: ${(err as Error).message}`);
    }
  }

  /**
   * After an admin deleted a provider or models: drops their circuits, latency averages, remembered route and rate
   * limits from Redis (forgetDeletedRouting), so one re-created with the same id starts afresh. A Redis failure is
   * logged, not thrown: the deletion has been made (the keys then expire in a day).
   */
  async forgetDeleted(deleted: DeletedRouting): Promise<void> {
    try {
      await forgetDeletedRouting(this.redis, this.env.REDIS_PREFIX, deleted);
    } catch (err) {
      this.logger.warn(`forgetting the routing state of ${deleted.providerId} failed: ${(err as Error).message}`);
    }
  }

  private async resetAll(
    providerId: string,
    models: readonly { name: string }[],
  ): Promise<CircuitResetView['deployments']> {
    const deployments: CircuitResetView['deployments'] = [];
    for (const m of models) {
      const id = `${providerId}/${m.name}`;
      const { state, transition, endedCooldown } = await this.circuits.reset(id);
      const previousState = transition?.from ?? state;
      deployments.push(
        endedCooldown === null ? { id, previousState, state } : { id, previousState, state, endedCooldown },
      );
    }
    return deployments;
  }
}
