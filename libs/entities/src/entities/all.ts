import { ApiKeyEntity } from './api-key.entity';
import { AuditLogEntity } from './audit-log.entity';
import { GatewayEntity } from './gateway.entity';
import { HealthAlertOutboxEntity } from './health-alert-outbox.entity';
import { ModelEntity } from './model.entity';
import { ProviderDiscoveredModelEntity } from './provider-discovered-model.entity';
import { ProviderHealthCheckEntity } from './provider-health-check.entity';
import { PreferenceUsageBatchEntity } from './preference-usage-batch.entity';
import { ProviderEntity } from './provider.entity';
import { UsageRecordEntity } from './usage-record.entity';
import {
  UsageDailyEntity,
  UsageDeploymentDailyEntity,
  UsageDeploymentHourlyEntity,
  UsageHourlyEntity,
} from './usage-rollup.entity';
import { UsageRetentionEdgeEntity } from './usage-retention-edge.entity';
import { UserPreferenceEntity } from './user-preference.entity';
import { UserQuotaEntity } from './user-quota.entity';
import { UserEntity } from './user.entity';

/** Every entity, for DataSource options and `TypeOrmModule.forFeature`. */
export const ENTITIES = [
  UserEntity,
  ApiKeyEntity,
  GatewayEntity,
  ProviderEntity,
  ModelEntity,
  UserPreferenceEntity,
  PreferenceUsageBatchEntity,
  UserQuotaEntity,
  UsageRecordEntity,
  UsageHourlyEntity,
  UsageDailyEntity,
  UsageDeploymentHourlyEntity,
  UsageDeploymentDailyEntity,
  UsageRetentionEdgeEntity,
  ProviderHealthCheckEntity,
  ProviderDiscoveredModelEntity,
  HealthAlertOutboxEntity,
  AuditLogEntity,
] as const;
