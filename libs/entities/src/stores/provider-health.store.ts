import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  alertKindOf,
  type Capability,
  type HealthAlert,
  type HealthRoute,
  type ProviderHealthStatus,
} from '@aigw/core';
import type { DataSource, EntityManager } from 'typeorm';
import { GatewayEntity } from '../entities/gateway.entity';
import { HealthAlertOutboxEntity } from '../entities/health-alert-outbox.entity';
import { ProviderDiscoveredModelEntity } from '../entities/provider-discovered-model.entity';
import { ProviderHealthCheckEntity } from '../entities/provider-health-check.entity';
import { ProviderEntity } from '../entities/provider.entity';
import { tableRef } from '../table-ref';
import { PRUNE_BATCH_ROWS, pruneOldestFirst } from './prune';
import { readSnapshot } from './read-snapshot';

export { PRUNE_BATCH_ROWS };

/** What the monitor probes: a provider, or a gateway (a LiteLLM proxy) on its own. */
export interface HealthSubject {
  kind: 'provider' | 'gateway';
  id: string;
}

/** One route of one probe. `message` must already be secret-free. */
export interface RouteCheck {
  route: HealthRoute;
  ok: boolean;
  latencyMs: number | null;
  status: number | null;
  errorClass: string | null;
  message: string | null;
}

/** How probes become a status (see `ProviderHealthStatus`). */
export interface HealthRules {
  /** Consecutive failed probes that make a subject `failing` (HEALTH_FAILURE_THRESHOLD). */
  failureThreshold: number;
  /** A working probe slower than this is `degraded` (HEALTH_SLOW_MS). */
  slowMs: number;
  /** Probes looked back on: a failure among them makes a working subject `degraded` (HEALTH_WINDOW). */
  window: number;
  /**
   * Consecutive working probes a `failing` subject needs before it leaves `failing` (HEALTH_RECOVERY_THRESHOLD;
   * default 1: the first working probe). Until then a working probe keeps it `failing`, and a failed one keeps it
   * there whatever its streak: a provider that flaps between failing and working probes does not flip its status,
   * its routing order and an alert pair at every probe.
   */
  recoveryThreshold?: number;
}

/** The subject's health after a probe, and before it: the caller raises an alert on a transition. */
export interface RecordedHealth {
  previous: ProviderHealthStatus;
  status: ProviderHealthStatus;
  consecutiveFailures: number;
  lastError: string | null;
  /**
   * When the status update ran, by PostgreSQL's clock, under the subject's lock: the transitions of a subject are
   * in this order whichever replica recorded them (alerts are ordered by it).
   */
  recordedAt: Date;
  /**
   * The id of the alert this update decided (`healthAlertOf`), when the probe was recorded with `{ outbox: true }`:
   * the alert was written to the outbox in the same transaction.
   */
  alertId?: string;
}

/** The alert a recorded transition calls for, null when none (see `alertKindOf`); no `alertId`. */
export function healthAlertOf(subject: HealthSubject, health: RecordedHealth): Omit<HealthAlert, 'alertId'> | null {
  const kind = alertKindOf(health.previous, health.status);
  return kind === null
    ? null
    : {
        kind,
        subject: subject.kind,
        id: subject.id,
        previousStatus: health.previous,
        status: health.status,
        consecutiveFailures: health.consecutiveFailures,
        lastError: kind === 'recovered' ? null : health.lastError,
        at: health.recordedAt.toISOString(),
      };
}

/**
 * A probe as the monitor timed it: when it began by this process's monotonic clock (`performance.now()`), and how
 * long past its start its status holds (null: until the next probe, however late). `recordTimedProbe` dates it by
 * PostgreSQL's clock, the one clock every monitor replica shares.
 */
export interface ProbeTiming {
  startedAt: number;
  holdsForMs: number | null;
}

export interface HealthView {
  status: ProviderHealthStatus;
  consecutiveFailures: number;
  lastCheckAt: Date | null;
  lastError: string | null;
  /** The upstream names its own model list lacked at the last probe, as routing takes them (`unservedOf`). */
  unservedModels: string[];
}

export interface HealthCheckRow {
  at: Date;
  route: HealthRoute;
  ok: boolean;
  latencyMs: number | null;
  status: number | null;
  errorClass: string | null;
  message: string | null;
}

export interface DiscoveredModel {
  model: string;
  capabilities: Capability[];
  firstSeenAt: Date;
  lastSeenAt: Date;
}

/**
 * A subject's status as readers should take it: the recorded one while a probe confirms it (`health_valid_until`,
 * set by the monitor from the subject's probe interval), `unknown` once that has passed. Without a monitor running,
 * a provider last seen `failing` would otherwise be routed last and listed unavailable for good.
 */
export function currentHealth(
  status: ProviderHealthStatus,
  validUntil: Date | null,
  now: number = Date.now(),
): ProviderHealthStatus {
  return validUntil !== null && validUntil.getTime() <= now ? 'unknown' : status;
}

/**
 * The provider's unserved models (`providers.unserved_models`, by upstream name) as readers should take them: none
 * once the probe that recorded them is older than the provider's settings (`updated_at`: a changed base URL, key or
 * model list is another server's, or account's, list), or once its status no longer holds (`health_valid_until`,
 * as `currentHealth`: no monitor confirms it).
 */
export function unservedOf(
  row: Pick<ProviderEntity, 'unservedModels' | 'lastCheckAt' | 'updatedAt' | 'healthValidUntil'>,
  now: number = Date.now(),
): string[] {
  const { unservedModels, lastCheckAt, updatedAt, healthValidUntil } = row;
  if (unservedModels === null || unservedModels.length === 0 || lastCheckAt === null) {
    return [];
  }
  if (lastCheckAt.getTime() < updatedAt.getTime()) {
    return [];
  }
  return healthValidUntil !== null && healthValidUntil.getTime() <= now ? [] : unservedModels;
}

/** A probe is up when any of its routes worked: that is what routing can use. */
function failureSummary(checks: readonly RouteCheck[]): string | null {
  const failed = checks.filter((c) => !c.ok);
  if (failed.length === 0) {
    return null;
  }
  return failed.map((c) => `${c.route}: ${c.message ?? c.errorClass ?? 'failed'}`).join('; ');
}

/**
 * Health history and status of providers and gateways, and the models providers list. Each probe is recorded in
 * one transaction whose status update locks the subject's row, so concurrent probes of one subject (a stalled job
 * run twice, two monitor replicas) see each transition exactly once.
 */
export class ProviderHealthStore {
  constructor(private readonly dataSource: DataSource) {}

  private checks(): string {
    return tableRef(this.dataSource, ProviderHealthCheckEntity);
  }

  private subjectTable(kind: HealthSubject['kind']): string {
    return tableRef(this.dataSource, kind === 'provider' ? ProviderEntity : GatewayEntity);
  }

  /**
   * Writes one row per route and moves the subject's status: `failing` after `failureThreshold` consecutive
   * failed probes, `degraded` when it works slowly or failed within the window (or failed below the threshold),
   * else `healthy`. The status holds until `validUntil` (null: until the next probe, however late): past it,
   * readers take it as `unknown` (`currentHealth`). Returns null when the subject no longer exists.
   *
   * `at` is when the probe began. A probe that began before the one recorded last (a timed-out probe of the old
   * settings finishing after the probe of the new ones, two replicas) is kept in the history but never undoes the
   * newer result: it adds to a failure streak the newer probe is in, and otherwise leaves the status as it is.
   */
  recordProbe(
    subject: HealthSubject,
    checks: readonly RouteCheck[],
    at: Date,
    rules: HealthRules,
    validUntil: Date | null = null,
  ): Promise<RecordedHealth | null> {
    return this.record(subject, checks, rules, () => ({ at, validUntil }));
  }

  /**
   * `recordProbe` of a probe the monitor timed (`ProbeTiming`), dated by PostgreSQL's clock: its start is the time the
   * database received the locking statement, less how long ago the probe began by the monitor's monotonic clock.
   * Replicas whose clocks disagree then still order their probes as they ran: one dated by a clock ahead would
   * otherwise make every probe of the others "older" than it, so their results (a recovery) were ignored, and the
   * status, `lastCheckAt` and its validity stuck, for as long as the skew.
   */
  recordTimedProbe(
    subject: HealthSubject,
    checks: readonly RouteCheck[],
    timing: ProbeTiming,
    rules: HealthRules,
    opts: { outbox?: boolean; unserved?: readonly string[] } = {},
  ): Promise<RecordedHealth | null> {
    return this.record(
      subject,
      checks,
      rules,
      (databaseNow, sentAt) => {
        const at = new Date(databaseNow.getTime() - Math.max(0, sentAt - timing.startedAt));
        const validUntil = timing.holdsForMs === null ? null : new Date(at.getTime() + timing.holdsForMs);
        return { at, validUntil };
      },
      opts.outbox === true,
      opts.unserved,
    );
  }

  /**
   * Whether the monitor still probes `subject` as PostgreSQL has it now (`probedSubjects` reads the same from the
   * catalog): a provider that exists and is enabled; a gateway an enabled provider routes through (the providers'
   * foreign key keeps such a gateway in existence). A probe job queued before an admin disabled or removed its
   * subject asks this before it calls anything: the catalog in memory follows the change only once its reload ran
   * (`provider.changed`, or the periodic one when that message was lost). One read of a few rows (the providers
   * table holds one per provider), no lock.
   */
  async stillProbed(subject: HealthSubject): Promise<boolean> {
    const providers = this.subjectTable('provider');
    const rows = await this.dataSource.query<unknown[]>(
      subject.kind === 'provider'
        ? `SELECT 1 FROM ${providers} WHERE id = $1 AND enabled`
        : `SELECT 1 FROM ${providers} WHERE gateway_id = $1 AND enabled AND routing <> 'direct' LIMIT 1`,
      [subject.id],
    );
    return rows.length > 0;
  }

  private outbox(): string {
    return tableRef(this.dataSource, HealthAlertOutboxEntity);
  }

  /** Alerts still in the outbox (not yet delivered), oldest first, at most `limit`. */
  async pendingAlerts(limit: number): Promise<HealthAlert[]> {
    const rows = await this.dataSource.query<{ id: string; alert: HealthAlert }[]>(
      `SELECT id, alert FROM ${this.outbox()} ORDER BY created_at, id LIMIT $1`,
      [limit],
    );
    return rows.map((r) => ({ ...r.alert, alertId: r.id }));
  }

  /**
   * The alerts of `subject` still in the outbox other than `alertId`, oldest transition first: those a monitor
   * decided before it but did not queue (it died meanwhile), to be queued ahead of it. The outbox holds only alerts
   * not yet delivered, a handful at most: no index needed.
   */
  async pendingAlertsOf(subject: HealthSubject, alertId: string): Promise<HealthAlert[]> {
    const rows = await this.dataSource.query<{ id: string; alert: HealthAlert }[]>(
      `SELECT id, alert FROM ${this.outbox()}
        WHERE alert->>'subject' = $1 AND alert->>'id' = $2 AND id <> $3
        ORDER BY (alert->>'at')::timestamptz, created_at, id`,
      [subject.kind, subject.id, alertId],
    );
    return rows.map((r) => ({ ...r.alert, alertId: r.id }));
  }

  /** Whether the alert is still in the outbox (its delivery has not ended). */
  async alertPending(alertId: string): Promise<boolean> {
    const rows = await this.dataSource.query<unknown[]>(`SELECT 1 FROM ${this.outbox()} WHERE id = $1`, [alertId]);
    return rows.length > 0;
  }

  /** An alert whose delivery ended (delivered, or given up): out of the outbox. */
  async alertDone(alertId: string): Promise<void> {
    await this.dataSource.query(`DELETE FROM ${this.outbox()} WHERE id = $1`, [alertId]);
  }

  /**
   * Records a probe; `when` dates it from the database's time at the locking statement and this process's
   * `performance.now()` as that statement was sent (read with the lock: no round trip of its own).
   */
  private async record(
    subject: HealthSubject,
    checks: readonly RouteCheck[],
    rules: HealthRules,
    when: (databaseNow: Date, sentAt: number) => { at: Date; validUntil: Date | null },
    outbox = false,
    unserved?: readonly string[],
  ): Promise<RecordedHealth | null> {
    if (checks.length === 0) {
      return null;
    }
    const ok = checks.some((c) => c.ok);
    const latencies = checks.filter((c) => c.ok && c.latencyMs !== null).map((c) => c.latencyMs as number);
    const latencyMs = latencies.length === 0 ? null : Math.min(...latencies);
    const lastError = failureSummary(checks);
    const column = subject.kind === 'provider' ? 'provider_id' : 'gateway_id';
    return this.dataSource.transaction(async (m) => {
      // Lock first: the check rows' foreign key would otherwise take a share lock that deadlocks a concurrent probe.
      // statement_timestamp(): when the statement arrived, before any wait for the lock.
      const sentAt = performance.now();
      const exists = await m.query<{ now: Date }[]>(
        `SELECT statement_timestamp() AS now FROM ${this.subjectTable(subject.kind)} WHERE id = $1 FOR NO KEY UPDATE`,
        [subject.id],
      );
      if (exists.length === 0) {
        return null;
      }
      const { at, validUntil } = when(new Date(exists[0].now), sentAt);
      await this.insertChecks(m, column, subject.id, checks, at);
      const table = this.subjectTable(subject.kind);
      const params: unknown[] = [
        subject.id,
        ok,
        at,
        lastError,
        rules.failureThreshold,
        latencyMs ?? 0,
        rules.slowMs,
        rules.window,
        validUntil,
        Math.max(1, rules.recoveryThreshold ?? 1),
      ];
      // A provider's unserved models (`unserved_models`): this probe's verdict when it could tell (null: none
      // missing); else the last one, as long as it was for the settings in force (a probe no older than
      // `updated_at`), else none. A probe older than the one recorded last changes nothing, as for the status.
      let unservedSet = '';
      let unservedCol = '';
      if (subject.kind === 'provider') {
        params.push(
          unserved !== undefined,
          unserved === undefined || unserved.length === 0 ? null : JSON.stringify(unserved),
        );
        unservedSet = `unserved_models = CASE
                  WHEN old.stale THEN old.unserved_models
                  WHEN $11::boolean THEN $12::jsonb
                  WHEN old.last_check_at >= t.updated_at THEN old.unserved_models
                  ELSE NULL
                END,`;
        unservedCol = ', unserved_models';
      }
      // An UPDATE ... RETURNING comes back as [rows, count].
      const [rows] = await m.query<
        [
          {
            previous: ProviderHealthStatus;
            status: ProviderHealthStatus;
            failures: number;
            last_error: string | null;
            recorded_at: Date;
          }[],
          number,
        ]
      >(
        `UPDATE ${table} t
            SET consecutive_failures = CASE
                  WHEN old.ignored THEN old.consecutive_failures
                  WHEN $2::boolean THEN 0
                  ELSE old.consecutive_failures + 1
                END,
                last_check_at = CASE WHEN old.stale THEN old.last_check_at ELSE $3::timestamptz END,
                last_error = CASE WHEN old.stale THEN old.last_error ELSE $4::text END,
                health_valid_until = CASE WHEN old.stale THEN old.health_valid_until ELSE $9::timestamptz END,
                ${unservedSet}
                health_status = CASE
                  WHEN old.ignored THEN old.health_status
                  WHEN NOT $2::boolean AND (old.recovering OR old.consecutive_failures + 1 >= $5) THEN 'failing'
                  WHEN NOT $2::boolean THEN 'degraded'
                  WHEN old.recovering AND r.up < $10 THEN 'failing'
                  WHEN $6::integer > $7 OR w.failed > 0 THEN 'degraded'
                  ELSE 'healthy'
                END
           FROM (SELECT s.*, s.stale AND ($2::boolean OR s.consecutive_failures = 0) AS ignored
                   FROM (SELECT id, health_status, consecutive_failures, last_check_at, last_error, health_valid_until,
                                coalesce(last_check_at > $3::timestamptz, false) AS stale,
                                -- Failing, and still held when this probe began (a status that ran out reads as
                                -- unknown: the first working probe ends it, as it would an unknown one).
                                health_status = 'failing' AND coalesce(health_valid_until > $3::timestamptz, true)
                                  AS recovering${unservedCol}
                           FROM ${table} WHERE id = $1 FOR NO KEY UPDATE) s) old,
                (SELECT count(*) FILTER (WHERE NOT p.up) AS failed
                   FROM (SELECT checked_at, bool_or(ok) AS up FROM ${this.checks()}
                          WHERE ${column} = $1 GROUP BY checked_at ORDER BY checked_at DESC LIMIT $8) p) w,
                -- The working probes among the last (recovery threshold) ones, this one included: all of them, a recovery.
                (SELECT count(*) FILTER (WHERE q.up) AS up
                   FROM (SELECT checked_at, bool_or(ok) AS up FROM ${this.checks()}
                          WHERE ${column} = $1 GROUP BY checked_at ORDER BY checked_at DESC LIMIT $10) q) r
          WHERE t.id = old.id
      RETURNING old.health_status AS previous, t.health_status AS status,
                t.consecutive_failures AS failures, t.last_error, clock_timestamp() AS recorded_at`,
        params,
      );
      const row = rows[0];
      if (row === undefined) {
        return null;
      }
      const health: RecordedHealth = {
        previous: row.previous,
        status: row.status,
        consecutiveFailures: row.failures,
        lastError: row.last_error,
        recordedAt: new Date(row.recorded_at),
      };
      const alert = outbox ? healthAlertOf(subject, health) : null;
      if (alert === null) {
        return health;
      }
      // In the status update's transaction: the alert is kept exactly when its transition is.
      const alertId = randomUUID();
      await m.query(`INSERT INTO ${this.outbox()} (id, alert) VALUES ($1, $2::jsonb)`, [
        alertId,
        JSON.stringify(alert),
      ]);
      return { ...health, alertId };
    });
  }

  private async insertChecks(
    m: EntityManager,
    column: string,
    id: string,
    checks: readonly RouteCheck[],
    at: Date,
  ): Promise<void> {
    const values: unknown[] = [];
    const tuples = checks.map((c) => {
      values.push(id, c.route, c.ok, c.latencyMs, c.status, c.errorClass, c.message, at);
      const n = values.length;
      return `($${n - 7}, $${n - 6}, $${n - 5}, $${n - 4}, $${n - 3}, $${n - 2}, $${n - 1}, $${n})`;
    });
    await m.query(
      `INSERT INTO ${this.checks()} (${column}, route, ok, latency_ms, status, error_class, message, checked_at)
       VALUES ${tuples.join(', ')}`,
      values,
    );
  }

  /** Deletes history older than `before`, oldest first, `batchSize` rows per statement (`pruneOldestFirst`). */
  async prune(before: Date, batchSize: number = PRUNE_BATCH_ROWS): Promise<number> {
    return pruneOldestFirst(this.dataSource, this.checks(), 'checked_at', before, batchSize);
  }

  /** Every provider's health, by id. */
  async providerHealth(): Promise<Map<string, HealthView>> {
    const rows = await this.dataSource.getRepository(ProviderEntity).find({
      select: {
        id: true,
        healthStatus: true,
        healthValidUntil: true,
        consecutiveFailures: true,
        lastCheckAt: true,
        lastError: true,
        updatedAt: true,
        unservedModels: true,
      },
    });
    const now = Date.now();
    return new Map(
      rows.map((r) => [
        r.id,
        {
          status: currentHealth(r.healthStatus, r.healthValidUntil, now),
          consecutiveFailures: r.consecutiveFailures,
          lastCheckAt: r.lastCheckAt,
          lastError: r.lastError,
          unservedModels: unservedOf(r, now),
        },
      ]),
    );
  }

  /** Every gateway's status, by id. */
  async gatewayStatuses(): Promise<Map<string, ProviderHealthStatus>> {
    const rows = await this.dataSource
      .getRepository(GatewayEntity)
      .find({ select: { id: true, healthStatus: true, healthValidUntil: true } });
    const now = Date.now();
    return new Map(rows.map((r) => [r.id, currentHealth(r.healthStatus, r.healthValidUntil, now)]));
  }

  /** A provider's checks in [from, to), newest first, at most `limit`. */
  async history(
    providerId: string,
    from: Date,
    to: Date,
    limit: number,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<HealthCheckRow[]> {
    const rows = await manager.query<
      {
        checked_at: Date;
        route: HealthRoute;
        ok: boolean;
        latency_ms: number | null;
        status: number | null;
        error_class: string | null;
        message: string | null;
      }[]
    >(
      `SELECT checked_at, route, ok, latency_ms, status, error_class, message FROM ${this.checks()}
        WHERE provider_id = $1 AND checked_at >= $2 AND checked_at < $3
        ORDER BY checked_at DESC, id DESC
        LIMIT $4`,
      [providerId, from, to, limit],
    );
    return rows.map((r) => ({
      at: r.checked_at,
      route: r.route,
      ok: r.ok,
      latencyMs: r.latency_ms,
      status: r.status,
      errorClass: r.error_class,
      message: r.message,
    }));
  }

  /**
   * Share of a provider's probes in [from, to) in which at least one route worked (what routing could use), over
   * every probe of the range, not only the rows `history` returns; null without a probe.
   */
  async uptime(
    providerId: string,
    from: Date,
    to: Date,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<{ probes: number; up: number; uptime: number | null }> {
    const [row] = await manager.query<{ probes: string; up: string }[]>(
      `SELECT count(*) AS probes, count(*) FILTER (WHERE p.up) AS up
         FROM (SELECT checked_at, bool_or(ok) AS up FROM ${this.checks()}
                WHERE provider_id = $1 AND checked_at >= $2 AND checked_at < $3
                GROUP BY checked_at) p`,
      [providerId, from, to],
    );
    const probes = Number(row?.probes ?? 0);
    const up = Number(row?.up ?? 0);
    return { probes, up, uptime: probes === 0 ? null : Math.round((up / probes) * 1e6) / 1e6 };
  }

  /**
   * `history` and `uptime` from one snapshot (`readSnapshot`), one after the other on its connection: a probe
   * recorded or pruned meanwhile is in both or neither, so the checks shown and the probes counted agree.
   */
  async historyWithUptime(
    providerId: string,
    from: Date,
    to: Date,
    limit: number,
  ): Promise<{ checks: HealthCheckRow[]; uptime: { probes: number; up: number; uptime: number | null } }> {
    return readSnapshot(this.dataSource, async (em) => {
      const checks = await this.history(providerId, from, to, limit, em);
      const uptime = await this.uptime(providerId, from, to, em);
      return { checks, uptime };
    });
  }

  /**
   * Stores the models a provider listed at `at` (by default the database's time, the clock every monitor replica
   * shares: `discovered` compares the times of two refreshes, which replicas with skewed clocks may have made): new
   * ones are added, listed ones get `last_seen_at = at`, and the provider's `models_refreshed_at` becomes `at`, so
   * what is no longer listed stays behind with an older time.
   */
  async recordModels(
    providerId: string,
    models: readonly { model: string; capabilities: Capability[] }[],
    at?: Date,
  ): Promise<void> {
    const table = tableRef(this.dataSource, ProviderDiscoveredModelEntity);
    // now(): the transaction's start, the same in both statements.
    const when = at ?? null;
    await this.dataSource.transaction(async (m) => {
      const updated = await m.query<[unknown[], number]>(
        `UPDATE ${this.subjectTable('provider')} SET models_refreshed_at = coalesce($2::timestamptz, now()) WHERE id = $1`,
        [providerId, when],
      );
      if (updated[1] === 0 || models.length === 0) {
        return;
      }
      await m.query(
        `INSERT INTO ${table} (provider_id, model, capabilities, first_seen_at, last_seen_at)
         SELECT $1, x.model, x.capabilities, coalesce($2::timestamptz, now()), coalesce($2::timestamptz, now())
           FROM jsonb_to_recordset($3::jsonb) AS x(model text, capabilities jsonb)
         ON CONFLICT (provider_id, model)
         DO UPDATE SET last_seen_at = EXCLUDED.last_seen_at, capabilities = EXCLUDED.capabilities`,
        [providerId, when, JSON.stringify(models)],
      );
    });
  }

  /** The models a provider listed at its last refresh (null: never refreshed), sorted by name. */
  async discovered(providerId: string): Promise<{ refreshedAt: Date | null; models: DiscoveredModel[] }> {
    const provider = await this.dataSource
      .getRepository(ProviderEntity)
      .findOne({ where: { id: providerId }, select: { id: true, modelsRefreshedAt: true } });
    const refreshedAt = provider?.modelsRefreshedAt ?? null;
    if (refreshedAt === null) {
      return { refreshedAt, models: [] };
    }
    const rows = await this.dataSource
      .getRepository(ProviderDiscoveredModelEntity)
      .createQueryBuilder('d')
      .where('d.provider_id = :providerId AND d.last_seen_at >= :refreshedAt', { providerId, refreshedAt })
      .orderBy('d.model', 'ASC')
      .getMany();
    return {
      refreshedAt,
      models: rows.map((r) => ({
        model: r.model,
        capabilities: r.capabilities,
        firstSeenAt: r.firstSeenAt,
        lastSeenAt: r.lastSeenAt,
      })),
    };
  }
}
