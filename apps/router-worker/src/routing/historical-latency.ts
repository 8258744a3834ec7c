import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { tableRef, UsageRecordEntity } from '@aigw/entities';
import { DataSource } from 'typeorm';
import { WarnThrottle } from './warn-throttle';

/** How often the averages are recomputed, and over how much history. */
export const HISTORY_REFRESH_MS = 60_000;
const HISTORY_WINDOW = '24 hours';

interface Row {
  provider: string;
  model: string;
  avg_ms: string | number;
}

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

  constructor(
    private readonly dataSource: DataSource,
    // The table must exist before the first query.
    @Inject('DATABASE_MIGRATED') _migrated: boolean,
  ) {}

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
      const rows = await this.dataSource.query<Row[]>(
        `SELECT provider, model, avg(latency_ms) AS avg_ms
           FROM ${tableRef(this.dataSource, UsageRecordEntity)}
          WHERE created_at > now() - interval '${HISTORY_WINDOW}'
            AND status = 'success' AND NOT cached AND provider IS NOT NULL AND model IS NOT NULL
          GROUP BY provider, model`,
      );
      const next = new Map<string, number>();
      for (const r of rows) {
        const ms = Number(r.avg_ms);
        if (Number.isFinite(ms)) {
          next.set(`${r.provider}/${r.model}`, ms);
        }
      }
      this.averages = next;
    } catch (err) {
      this.warnings.warn('historical latencies not refreshed, keeping the previous ones', err);
    }
  }
}
