import { Inject, Injectable, Logger } from '@nestjs/common';
import type { CircuitState } from '@aigw/core';
import {
  CatalogService,
  METRICS_REGISTRY,
  MetricName,
  SCRAPE_READ_TIMEOUT_MS,
  describeError,
  waitAtMost,
} from '@aigw/platform';
import type { CircuitStatus } from '@aigw/routing';
import { Gauge, type Registry } from 'prom-client';
import { CircuitGuard } from '../routing/circuit-guard';

const VALUE: { readonly [S in CircuitState]: number } = { closed: 0, half_open: 1, open: 2 };

/** An open circuit past CB_OPEN_MS admits probes: it is half-open in all but the stored word. */
function valueOf(s: CircuitStatus): number {
  return s.state === 'open' && s.available ? VALUE.half_open : VALUE[s.state];
}

/** Seconds left of the wait a deployment's provider asked for (0: none runs), as of `now` (epoch ms). */
export function cooldownSecondsOf(s: CircuitStatus, now: number): number {
  return s.cooldownUntil === undefined ? 0 : Math.max(0, s.cooldownUntil - now) / 1000;
}

/**
 * `aigw_circuit_state{deployment}` (0 closed, 1 half-open, 2 open) and `aigw_circuit_cooldown_seconds{deployment}`
 * (what is left of the wait its provider asked for with a 429, 503 or 529 and Retry-After: every worker leaves the
 * deployment alone meanwhile, and its circuit stays closed, so the state alone did not say why traffic left it). Read
 * from Redis when Prometheus scrapes, one read for both. Every worker reports the same fleet-wide values; aggregate
 * with max().
 */
@Injectable()
export class CircuitStateGauge {
  private readonly logger = new Logger(CircuitStateGauge.name);
  /** The read the two gauges of one scrape share (their collects run together); null between scrapes. */
  private reading: Promise<ReadonlyMap<string, CircuitStatus> | undefined> | null = null;

  constructor(
    @Inject(METRICS_REGISTRY) registry: Registry,
    private readonly catalog: CatalogService,
    private readonly circuits: CircuitGuard,
  ) {
    const read = () => this.read();
    // One gauge per deployment, both from the scrape's one read; deployments removed from the catalog or disabled
    // must not linger with their last value.
    const perDeployment = (name: string, help: string, value: (status: CircuitStatus, now: number) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['deployment'],
        registers: [registry],
        async collect() {
          const states = await read();
          if (states === undefined) {
            return;
          }
          this.reset();
          // The Redis clock, which wrote the cooldowns' ends: a worker's own may be off by minutes.
          const now = circuits.now();
          for (const [deployment, status] of states) {
            this.set({ deployment }, value(status, now));
          }
        },
      });
    perDeployment(
      MetricName.CircuitState,
      'Circuit breaker state per deployment: 0 closed, 1 half-open, 2 open (shared by all workers).',
      valueOf,
    );
    perDeployment(
      MetricName.CircuitCooldown,
      "Seconds left of the wait the deployment's provider asked for (a 429, 503 or 529 with Retry-After), during which no worker calls it; 0 when none (shared by all workers).",
      cooldownSecondsOf,
    );
  }

  /**
   * The circuits of the deployments the catalog routes to; undefined (the gauges keep their values) when Redis failed.
   * One whose provider or model is disabled has no series: no worker calls it, so its circuit never moves again, and
   * one disabled while open kept reporting it (half-open once CB_OPEN_MS passed) for the day its key lives.
   */
  private read(): Promise<ReadonlyMap<string, CircuitStatus> | undefined> {
    this.reading ??= this.readOnce().finally(() => (this.reading = null));
    return this.reading;
  }

  private async readOnce(): Promise<ReadonlyMap<string, CircuitStatus> | undefined> {
    try {
      const states = await waitAtMost(
        this.circuits.statesOrThrow(
          this.catalog
            .deployments()
            .filter((d) => d.provider.enabled && d.model.enabled)
            .map((d) => d.id),
        ),
        SCRAPE_READ_TIMEOUT_MS,
      );
      if (states === undefined) {
        this.logger.warn(`circuit states not collected: Redis did not answer within ${SCRAPE_READ_TIMEOUT_MS} ms`);
      }
      return states;
    } catch (err) {
      this.logger.warn(`circuit states not collected: ${describeError(err)}`);
      return undefined;
    }
  }
}
