import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { DAY_MS } from '@aigw/core';
import { DeploymentStatsStore } from '@aigw/entities';
import { MigratedDatabase } from '@aigw/platform';
import { WarnThrottle } from './warn-throttle';

/** How often the averages are recomputed, and over how much history. */
export const HISTORY_REFRESH_MS = 60_000;
const HISTORY_WINDOW_MS = DAY_MS;

/**
 * Average latency per deployment over the last day of usage_records: what the latency policy uses for a
 * deployment Redis has no recent average for (after a Redis flush, or a deployment idle for a while).
 * Refreshed in the background, never on the request path. These are end-to-end latencies (queue wait
 * included), coarser than the live averages but comparable between deployments.
 */
@Injectable()
export class HistoricalLatency implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(HistoricalLatency.name);
  private readonly warnings = new WarnThrottle(this.logger, 5 * 60_000);
  private averages: ReadonlyMap<string, number> = new Map();
  private timer?: NodeJS.Timeout;
  private refreshing?: Promise<void>;
  private readonly stats: DeploymentStatsStore;

  constructor(db: MigratedDatabase) {
    this.stats = new DeploymentStatsStore(db.dataSource);
  }

  onModuleInit(): void {
    // Not awaited: boot must not wait on an aggregate query.
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), HISTORY_REFRESH_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /** Average ms per deployment id (`provider/model`); empty until the first refresh finished. */
  snapshot(): ReadonlyMap<string, number> {
    return this.averages;
  }

  /** Recomputes the averages; a failure keeps the previous ones. Concurrent calls share one query. */
  refresh(): Promise<void> {
    this.refreshing ??= this.load().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async load(): Promise<void> {
    try {
      const rows = await this.stats.since(new Date(Date.now() - HISTORY_WINDOW_MS));
      const next = new Map<string, number>();
      for (const r of rows) {
        if (r.avgLatencyMs !== null && Number.isFinite(r.avgLatencyMs)) {
          next.set(`${r.provider}/${r.model}`, r.avgLatencyMs);
        }
      }
      this.averages = next;
    } catch (err) {
      this.warnings.warn('historical latencies not refreshed, keeping the previous ones', err);
    }
  }
}
