import type { Provider } from '@nestjs/common';
import {
  AuditLogStore,
  PreferenceStore,
  QuotaStore,
  UsageAnalyticsStore,
  UsageReportStore,
  UserStore,
  type UsageRetention,
} from '@aigw/entities';
import { ENV, MigratedDatabase, usageRetentionOf, type BaseEnv } from '@aigw/platform';
import type { DataSource } from 'typeorm';
import { QUOTA_COUNTERS } from './quota-counters.port';
import { RedisQuotaCounters } from '../admission/redis-quota-counters';

const store = <T>(cls: new (ds: DataSource) => T): Provider<T> => ({
  provide: cls,
  inject: [MigratedDatabase],
  useFactory: (db: MigratedDatabase) => new cls(db.dataSource),
});

/** A store answering ranges past the usage retention from the rollups still kept (USAGE_*RETENTION_DAYS). */
const withRetention = <T>(cls: new (ds: DataSource, retention: UsageRetention) => T): Provider<T> => ({
  provide: cls,
  inject: [MigratedDatabase, ENV],
  useFactory: (db: MigratedDatabase, env: BaseEnv) => new cls(db.dataSource, usageRetentionOf(env)),
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
