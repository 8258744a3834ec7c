import { Inject, Injectable, Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import { AdapterRegistry } from '@aigw/adapters';
import { ENV, shutdownBudget } from '@aigw/platform';
import type { WorkerEnv } from './config/worker-env';
import { GenerationConsumer } from './jobs/generation-consumer';
import { WorkerQueues } from './queue/worker-queues';
import { CircuitGuard } from './routing/circuit-guard';
import { LatencyBook } from './routing/latency-book';
import { PreferenceUsage } from './routing/preference-usage';
import { ProviderQuotaBook } from './routing/quota-book';
import { UsageWriter } from './usage/usage-writer';

/**
 * Shutdown in dependency order, before Nest closes Redis and PostgreSQL: generate jobs first (they still add
 * usage jobs), then the usage writer (flushing its buffer), the breakers' and latency averages' pending writes, the
 * preference counters and the providers' rate limits, then the queues and the provider connection pools.
 */
@Injectable()
export class WorkerLifecycle implements BeforeApplicationShutdown {
  private readonly logger = new Logger(WorkerLifecycle.name);
  private stopping?: Promise<void>;

  constructor(
    @Inject(ENV) private readonly env: WorkerEnv,
    private readonly generation: GenerationConsumer,
    private readonly usage: UsageWriter,
    private readonly circuits: CircuitGuard,
    private readonly latency: LatencyBook,
    private readonly preferenceUsage: PreferenceUsage,
    private readonly quota: ProviderQuotaBook,
    private readonly queues: WorkerQueues,
    private readonly adapters: AdapterRegistry,
  ) {}

  /**
   * Starts taking jobs (usage, then generate): called once the worker can serve (its ops port open, see
   * startRouterWorker), so that a start failing before that holds no job. Not once it is stopping.
   */
  consume(): void {
    if (this.stopping !== undefined) {
      return;
    }
    this.usage.start();
    this.generation.start();
  }

  beforeApplicationShutdown(): Promise<void> {
    if (this.stopping === undefined) {
      // Alone (a split router-worker), it tells single processes draining beside it (ADR 0010) that it leaves the
      // queue, without waiting for the write. A host has called `drain` by now: it marked its worker as its gateway
      // began to close.
      void this.generation.markLeaving(shutdownBudget(this.env.SHUTDOWN_GRACE_MS).drainMs);
    }
    return this.drain();
  }

  /**
   * Stops taking jobs and gives the running ones `drainMs` (by default the drain part of SHUTDOWN_GRACE_MS) before
   * aborting them. A process hosting several apps calls it first, with what is left of its grace (ADR 0010).
   */
  drain(drainMs = shutdownBudget(this.env.SHUTDOWN_GRACE_MS).drainMs): Promise<void> {
    this.stopping ??= this.stop(drainMs);
    return this.stopping;
  }

  private async stop(drainMs: number): Promise<void> {
    this.logger.log(`stopping: waiting up to ${drainMs} ms for running jobs`);
    await this.generation.close(drainMs);
    await this.usage.close();
    await Promise.all([this.circuits.flush(), this.latency.flush()]);
    await this.preferenceUsage.flush();
    await this.quota.flush();
    await this.queues.close();
    await this.adapters.close();
    this.logger.log('stopped taking jobs; running jobs finished');
  }
}
