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

/**
 * `aigw_circuit_state{deployment}` (0 closed, 1 half-open, 2 open), read from Redis when Prometheus scrapes.
 * Every worker reports the same fleet-wide state; aggregate with max().
 */
@Injectable()
export class CircuitStateGauge {
  private readonly logger = new Logger(CircuitStateGauge.name);

  constructor(@Inject(METRICS_REGISTRY) registry: Registry, catalog: CatalogService, circuits: CircuitGuard) {
    const logger = this.logger;
    new Gauge({
      name: MetricName.CircuitState,
      help: 'Circuit breaker state per deployment: 0 closed, 1 half-open, 2 open (shared by all workers).',
      labelNames: ['deployment'],
      registers: [registry],
      async collect() {
        try {
          const states = await waitAtMost(
            circuits.statesOrThrow(catalog.deployments().map((d) => d.id)),
            SCRAPE_READ_TIMEOUT_MS,
          );
          if (states === undefined) {
            logger.warn(`circuit states not collected: Redis did not answer within ${SCRAPE_READ_TIMEOUT_MS} ms`);
            return;
          }
          // Deployments removed from the catalog must not linger with their last value.
          this.reset();
          for (const [deployment, status] of states) {
            this.set({ deployment }, valueOf(status));
          }
        } catch (err) {
          logger.warn(`circuit states not collected: ${describeError(err)}`);
        }
      },
    });
  }
}
