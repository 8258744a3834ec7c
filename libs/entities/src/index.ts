export { ENTITIES } from './entities/all';
export { UserEntity } from './entities/user.entity';
export { ApiKeyEntity, type ApiKeyRole } from './entities/api-key.entity';
export { GatewayEntity } from './entities/gateway.entity';
export {
  ProviderEntity,
  PROVIDER_HEALTH_STATUSES,
  type ProviderHealthStatus,
  type ProviderSource,
} from './entities/provider.entity';
export { ModelEntity } from './entities/model.entity';
export { UserPreferenceEntity } from './entities/user-preference.entity';
export { PreferenceUsageBatchEntity } from './entities/preference-usage-batch.entity';
export { UserQuotaEntity } from './entities/user-quota.entity';
export { UsageRecordEntity } from './entities/usage-record.entity';
export {
  UsageHourlyEntity,
  UsageDailyEntity,
  UsageDeploymentHourlyEntity,
  UsageDeploymentDailyEntity,
} from './entities/usage-rollup.entity';
export { UsageRetentionEdgeEntity } from './entities/usage-retention-edge.entity';
export { ProviderHealthCheckEntity } from './entities/provider-health-check.entity';
export { ProviderDiscoveredModelEntity } from './entities/provider-discovered-model.entity';
export { HealthAlertOutboxEntity } from './entities/health-alert-outbox.entity';
export { AuditLogEntity } from './entities/audit-log.entity';
export { MIGRATIONS } from './migrations/all';
export { numericTransformer } from './transformers';
export {
  createDataSourceOptions,
  DATABASE_READ_TIMEOUT_MS,
  withoutReadTimeout,
  type DatabaseConfig,
} from './data-source-options';
export {
  readDatabaseEnv,
  checkDatabaseUrl,
  describeDatabaseError,
  databaseUnavailable,
  type DatabaseEnv,
} from './database-env';
export { DEFAULT_SCHEMA, checkSchemaName, advisoryLockKey } from './schema-name';
export {
  runMigrationsLocked,
  pendingMigrations,
  MIGRATION_IDLE_IN_TRANSACTION_TIMEOUT_MS,
  type MigrationLog,
  type MigrationOptions,
} from './migrate-locked';
export { tableRef } from './table-ref';
export { SecretBox, SecretBoxError, type OpenedSecret } from './secret-box';
export {
  rotateSecrets,
  UnreadableSecretsError,
  type RecordedRotationCounts,
  type RotationCounts,
  type RotationSummary,
} from './stores/secret-rotation';
export { CatalogStore, resealSecret, type SeedSummary, type SeedChange } from './stores/catalog.store';
export {
  CatalogAdminStore,
  CatalogTx,
  KEEP_SECRET,
  type CatalogState,
  type SecretUpdate,
} from './stores/catalog-admin.store';
export {
  ApiKeyStore,
  AmbiguousKeyPrefixError,
  API_KEY_PREFIX,
  isWholeKey,
  keyPrefixOf,
  type ActiveApiKey,
  type ApiKeyGovernance,
  type ApiKeyInfo,
  type ApiKeyStanding,
  type BootstrapKeyResult,
  type CreatedApiKey,
} from './stores/api-key.store';
export { UsageStore } from './stores/usage.store';
export {
  PreferenceStore,
  PREFERENCE_STATS_DAYS,
  mayShowPreference,
  preferenceRefOf,
  PREFERENCE_USAGE_BATCH_KEEP_MS,
  PREFERENCE_USAGE_RETRY_MS,
  type PreferenceRecord,
  type PreferenceRoute,
  type PreferenceUse,
} from './stores/preference.store';
export { DeploymentStatsStore, type DeploymentStats } from './stores/deployment-stats.store';
export { QuotaUsageStore, type QuotaResetRow, type QuotaUsageRow } from './stores/quota-usage.store';
export { AuditLogStore, type AuditEntry, type AuditRecord } from './stores/audit-log.store';
export { UserStore, DuplicateUserError, type UserView } from './stores/user.store';
export { UUID_PATTERN, type KeysetPage, type KeysetPosition, type KeysetQuery } from './stores/keyset';
export { QuotaStore, type QuotaRow, type QuotaPatch } from './stores/quota.store';
export {
  UsageReportStore,
  USAGE_GROUP_BYS,
  type UsageGroupBy,
  type UsageGroup,
  type UsageTotals,
} from './stores/usage-report.store';
export {
  healthAlertOf,
  unservedOf,
  ProviderHealthStore,
  type DiscoveredModel,
  type HealthCheckRow,
  type HealthRules,
  type HealthSubject,
  type HealthView,
  type ProbeTiming,
  type RecordedHealth,
  type RouteCheck,
} from './stores/provider-health.store';
export {
  UsageAnalyticsStore,
  planParts,
  type AnalyticsGroupBy,
  type AnalyticsQuery,
  type UsageAggregate,
  type UsageSums,
  type UsageSnapshot,
  type UsageSumsGroup,
} from './stores/usage-analytics.store';
export { pruneOldestFirst } from './stores/prune';
export {
  UsageRetentionStore,
  KEEP_ALL_CUTOFFS,
  KEEP_ALL_USAGE,
  MIN_USAGE_RETENTION_DAYS,
  retentionCutoffs,
  usageCutoffs,
  usageRetentionProblem,
  type UsageCutoffs,
  type UsageCutoffsSource,
  type UsagePruned,
  type UsageRetention,
} from './stores/usage-retention';
