import { CLIENT_CLOSED_REQUEST } from '@aigw/core';
import type { DataSource } from 'typeorm';
import type { ProviderHealthStatus } from '../entities/provider.entity';
import { ProviderEntity } from '../entities/provider.entity';
import { UsageRecordEntity } from '../entities/usage-record.entity';
import { tableRef } from '../table-ref';
import { currentHealth } from './provider-health.store';

/** One deployment's provider calls over a period (response cache hits left out: no provider answered them). */
export interface DeploymentStats {
  provider: string;
  model: string;
  requests: number;
  successes: number;
  /** Mean latency of the successful requests; null when none succeeded. */
  avgLatencyMs: number | null;
}

interface StatsRow {
  provider: string;
  model: string;
  requests: string;
  successes: string;
  avg_latency_ms: string | null;
}

/** What the models listing shows beside the catalog: recent usage per deployment and the monitor's verdicts. */
export class DeploymentStatsStore {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * One grouped scan of usage_records since `since` (through its created_at index). A request its client left says
   * nothing of the provider: it is not counted. Nor is a row without a provider call of its own (`attempts` 0: a
   * cache hit, a coalesced follower, whose leader's row counts the call). A success's latency is its answering call's
   * own (`provider_latency_ms`), not the request's, which holds its queue wait and other deployments' failures before
   * it; a row written before that was recorded counts by the request's.
   */
  async since(since: Date): Promise<DeploymentStats[]> {
    const rows = await this.dataSource.query<StatsRow[]>(
      `SELECT provider, model, count(*) AS requests,
              count(*) FILTER (WHERE status = 'success') AS successes,
              avg(coalesce(provider_latency_ms, latency_ms)) FILTER (WHERE status = 'success') AS avg_latency_ms
         FROM ${tableRef(this.dataSource, UsageRecordEntity)}
        WHERE created_at >= $1 AND NOT cached AND attempts > 0 AND provider IS NOT NULL AND model IS NOT NULL
          AND error_code IS DISTINCT FROM $2
        GROUP BY provider, model`,
      [since.toISOString(), CLIENT_CLOSED_REQUEST],
    );
    return rows.map((r) => ({
      provider: r.provider,
      model: r.model,
      requests: Number(r.requests),
      successes: Number(r.successes),
      avgLatencyMs: r.avg_latency_ms === null ? null : Number(r.avg_latency_ms),
    }));
  }

  /** The health monitor's status of every provider. */
  async providerHealth(): Promise<Map<string, ProviderHealthStatus>> {
    const rows = await this.dataSource
      .getRepository(ProviderEntity)
      .find({ select: { id: true, healthStatus: true, healthValidUntil: true } });
    const now = Date.now();
    return new Map(rows.map((r) => [r.id, currentHealth(r.healthStatus, r.healthValidUntil, now)]));
  }
}
