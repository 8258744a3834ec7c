import { DAY_MS, floorTo, HOUR_MS } from '@aigw/core';
import type { DataSource, EntityManager } from 'typeorm';
import { UsageRecordEntity } from '../entities/usage-record.entity';
import { UsageRetentionEdgeEntity } from '../entities/usage-retention-edge.entity';
import {
  UsageDailyEntity,
  UsageDeploymentDailyEntity,
  UsageDeploymentHourlyEntity,
  UsageHourlyEntity,
} from '../entities/usage-rollup.entity';
import { tableRef } from '../table-ref';
import { PRUNE_BATCH_ROWS, pruneOldestFirst } from './prune';

/**
 * Days of usage kept at each level (USAGE_RETENTION_DAYS, USAGE_HOURLY_RETENTION_DAYS, USAGE_DAILY_RETENTION_DAYS);
 * 0 keeps it for good (the default: billing data goes only when the operator asks).
 */
export interface UsageRetention {
  /** usage_records: per-request rows. */
  rawDays: number;
  /** usage_hourly and usage_deployment_hourly. */
  hourlyDays: number;
  /** usage_daily and usage_deployment_daily. */
  dailyDays: number;
}

export const KEEP_ALL_USAGE: UsageRetention = { rawDays: 0, hourlyDays: 0, dailyDays: 0 };

/**
 * The fewest days of usage_records the gateway itself reads back: the quota counters are rebuilt from the current
 * UTC month (up to 31 days back, on a month's last day), and the models listing (24 h), the latency policy (24 h),
 * the preferences' `last30Days` and the month-end cost projection read less.
 */
export const MIN_USAGE_RETENTION_DAYS = 31;

/** What is wrong with a retention: the variable to change and why (the message does not repeat its name), or null. */
export function usageRetentionProblem(r: UsageRetention): { variable: string; message: string } | null {
  const levels: [string, number][] = [
    ['USAGE_RETENTION_DAYS', r.rawDays],
    ['USAGE_HOURLY_RETENTION_DAYS', r.hourlyDays],
    ['USAGE_DAILY_RETENTION_DAYS', r.dailyDays],
  ];
  for (const [variable, days] of levels) {
    if (days !== 0 && days < MIN_USAGE_RETENTION_DAYS) {
      return {
        variable,
        message:
          `${days} days would delete usage the gateway still reads (the quota counters are rebuilt from the ` +
          `current UTC month, up to ${MIN_USAGE_RETENTION_DAYS} days back): set at least ${MIN_USAGE_RETENTION_DAYS}, or 0 to keep it for good`,
      };
    }
  }
  // A coarser level answers what a finer one no longer holds: it must outlive it (0, for good, outlives all).
  const outlives = (a: number, b: number): boolean => a === 0 || (b !== 0 && a >= b);
  for (let i = 1; i < levels.length; i++) {
    const [finer, finerDays] = levels[i - 1];
    const [variable, days] = levels[i];
    if (!outlives(days, finerDays)) {
      return {
        variable,
        message:
          `${days} days is shorter than ${finer} (${finerDays === 0 ? '0: for good' : finerDays}): ranges past ` +
          `${finer} are read from these rollups, so keep them at least as long`,
      };
    }
  }
  return null;
}

/** Before these instants each level's rows may be gone (null: kept for good). */
export interface UsageCutoffs {
  raw: Date | null;
  hourly: Date | null;
  daily: Date | null;
}

export function usageCutoffs(r: UsageRetention, now: number): UsageCutoffs {
  const before = (days: number): Date | null => (days === 0 ? null : new Date(now - days * DAY_MS));
  return { raw: before(r.rawDays), hourly: before(r.hourlyDays), daily: before(r.dailyDays) };
}

/**
 * Before which instants each level's usage may be gone, as a reader must take it. `manager`: read within the
 * reader's own transaction (one snapshot with the rows it then reads).
 */
export interface UsageCutoffsSource {
  cutoffs(manager?: EntityManager): Promise<UsageCutoffs>;
}

/**
 * Cutoffs counted back from `clock` by a retention, without asking the database: for readers of what every
 * retention keeps (the current month, the last 30 days; MIN_USAGE_RETENTION_DAYS) and for tests. The api-gateway's
 * analytics read what the pruning recorded instead (`UsageRetentionStore`): its env may not be the monitor's.
 */
export function retentionCutoffs(r: UsageRetention, clock: () => number = Date.now): UsageCutoffsSource {
  return { cutoffs: () => Promise.resolve(usageCutoffs(r, clock())) };
}

/** Nothing is gone: the readers of what every retention keeps. */
export const KEEP_ALL_CUTOFFS: UsageCutoffsSource = retentionCutoffs(KEEP_ALL_USAGE);

export interface UsagePruned {
  records: number;
  hourly: number;
  daily: number;
}

type Level = keyof UsageCutoffs;
const LEVELS: Level[] = ['raw', 'hourly', 'daily'];

/**
 * Deletes usage past its retention, oldest first in bounded batches (`pruneOldestFirst`), and records how far it
 * went (usage_retention_edges): the edges every reader of older ranges must respect (`cutoffs`), whichever
 * USAGE_*RETENTION_DAYS its own process was given.
 */
export class UsageRetentionStore implements UsageCutoffsSource {
  constructor(private readonly dataSource: DataSource) {}

  async prune(r: UsageRetention, now: number, batchSize: number = PRUNE_BATCH_ROWS): Promise<UsagePruned> {
    const c = usageCutoffs(r, now);
    // Recorded (and committed) before any row goes: a reader whose snapshot holds the older edges holds the rows too.
    await this.recordEdges(c);
    const table = (e: Parameters<typeof tableRef>[1]): string => tableRef(this.dataSource, e);
    const prune = async (entity: Parameters<typeof tableRef>[1], column: string, before: Date | null) =>
      before === null ? 0 : pruneOldestFirst(this.dataSource, table(entity), column, before, batchSize);
    // A rollup row stands for the hour (day) it starts: it goes once all of that hour (day) is past the retention.
    const whole = (before: Date | null, unit: number): Date | null =>
      before === null ? null : new Date(floorTo(before.getTime(), unit) - unit + 1);
    const hourly = whole(c.hourly, HOUR_MS);
    const daily = whole(c.daily, DAY_MS);
    return {
      records: await prune(UsageRecordEntity, 'created_at', c.raw),
      hourly:
        (await prune(UsageHourlyEntity, 'hour', hourly)) + (await prune(UsageDeploymentHourlyEntity, 'hour', hourly)),
      daily: (await prune(UsageDailyEntity, 'day', daily)) + (await prune(UsageDeploymentDailyEntity, 'day', daily)),
    };
  }

  /** The edges the pruning recorded; null where a level was never pruned. One read of a table of three rows. */
  async cutoffs(manager: EntityManager = this.dataSource.manager): Promise<UsageCutoffs> {
    const rows = await manager.query<{ level: string; before: Date }[]>(
      `SELECT level, before FROM ${tableRef(this.dataSource, UsageRetentionEdgeEntity)}`,
    );
    const edge = (level: Level): Date | null => rows.find((row) => row.level === level)?.before ?? null;
    return { raw: edge('raw'), hourly: edge('hourly'), daily: edge('daily') };
  }

  /**
   * Moves each pruned level's edge forward, never back: rows gone under a shorter retention stay gone when it is
   * lengthened. A level kept for good (null) keeps the edge an earlier retention left. `prune` calls it before it
   * deletes.
   */
  private async recordEdges(c: UsageCutoffs): Promise<void> {
    const levels = LEVELS.filter((l) => c[l] !== null);
    if (levels.length === 0) {
      return;
    }
    const table = tableRef(this.dataSource, UsageRetentionEdgeEntity);
    await this.dataSource.query(
      `INSERT INTO ${table} AS e (level, before) SELECT * FROM unnest($1::text[], $2::timestamptz[])
       ON CONFLICT (level) DO UPDATE SET before = GREATEST(e.before, EXCLUDED.before)`,
      [levels, levels.map((l) => c[l])],
    );
  }

  /**
   * Records, per level with a cutoff, only what is actually gone: the earlier of the cutoff and the level's oldest
   * row still present (the cutoff when none is). The health-monitor calls it as it starts (one statement, no delete)
   * for what a monitor of an earlier release, which recorded nothing, may have pruned. Claiming the whole cutoff
   * there moved the shared edges for good (they only move forward) past rows still present, whenever the starting
   * monitor had not pruned yet or briefly ran with a shorter retention than the one that prunes: the gateway then
   * refused groupBy=hour (400) and widened ranges over rows it still has. Each oldest row is one read of an index
   * (usage_records' created_at, the rollups' primary keys).
   */
  async recordGoneEdges(c: UsageCutoffs): Promise<void> {
    if (LEVELS.every((l) => c[l] === null)) {
      return;
    }
    const table = (e: Parameters<typeof tableRef>[1]): string => tableRef(this.dataSource, e);
    await this.dataSource.query(
      `INSERT INTO ${table(UsageRetentionEdgeEntity)} AS e (level, before)
       SELECT level, LEAST(cutoff, oldest) FROM (VALUES
         ('raw', $1::timestamptz, (SELECT min(created_at) FROM ${table(UsageRecordEntity)})),
         ('hourly', $2::timestamptz, (SELECT min(hour) FROM ${table(UsageHourlyEntity)})),
         ('daily', $3::timestamptz, (SELECT min(day) FROM ${table(UsageDailyEntity)}))
       ) AS v (level, cutoff, oldest)
       WHERE cutoff IS NOT NULL
       ON CONFLICT (level) DO UPDATE SET before = GREATEST(e.before, EXCLUDED.before)`,
      [c.raw, c.hourly, c.daily],
    );
  }
}
