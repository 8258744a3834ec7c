import type { Provider } from '@nestjs/common';
import {
  AuditLogStore,
  PreferenceStore,
  QuotaStore,
  UsageAnalyticsStore,
  UsageReportStore,
  UserStore,
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

/** The stores behind the admin, usage and preferences APIs, and the quota counters they read. */
export const GOVERNANCE_PROVIDERS: Provider[] = [
  store(UserStore),
  store(QuotaStore),
  store(AuditLogStore),
  store(UsageReportStore),
  store(PreferenceStore),
  store(UsageAnalyticsStore),
  { provide: QUOTA_COUNTERS, useClass: RedisQuotaCounters },
];
