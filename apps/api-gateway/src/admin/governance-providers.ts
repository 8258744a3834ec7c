import type { Provider } from '@nestjs/common';
import {
  AuditLogStore,
  PreferenceStore,
  QuotaStore,
  UsageAnalyticsStore,
  UsageReportStore,
  UsageRetentionStore,
  UserStore,
  type UsageCutoffsSource,
} from '@aigw/entities';
import { MigratedDatabase } from '@aigw/platform';
import type { DataSource } from 'typeorm';
import { QUOTA_COUNTERS } from './quota-counters.port';
import { RedisQuotaCounters } from '../admission/redis-quota-counters';

const store = <T>(cls: new (ds: DataSource) => T): Provider<T> => ({
  provide: cls,
  inject: [MigratedDatabase],
  useFactory: (db: MigratedDatabase) => new cls(db.dataSource),
});

/**
 * A store answering ranges past the usage retention from the rollups still kept: up to the edges the
 * health-monitor's pruning recorded, not this process's USAGE_*RETENTION_DAYS (the monitor's may differ).
 */
const withRetention = <T>(cls: new (ds: DataSource, gone: UsageCutoffsSource) => T): Provider<T> => ({
  provide: cls,
  inject: [MigratedDatabase],
  useFactory: (db: MigratedDatabase) => new cls(db.dataSource, new UsageRetentionStore(db.dataSource)),
});

/** The stores behind the admin, usage and preferences APIs, and the quota counters they read. */
export const GOVERNANCE_PROVIDERS: Provider[] = [
  store(UserStore),
  store(QuotaStore),
  store(AuditLogStore),
  withRetention(UsageReportStore),
  store(PreferenceStore),
  withRetention(UsageAnalyticsStore),
  { provide: QUOTA_COUNTERS, useClass: RedisQuotaCounters },
];
