import { Initial1795254620694 } from './1795254620694-Initial';
import { CacheWritePrice1795400000000 } from './1795400000000-CacheWritePrice';
import { Governance1795500000000 } from './1795500000000-Governance';
import { ProviderPlugin1795600000000 } from './1795600000000-ProviderPlugin';
import { CostSaved1795700000000 } from './1795700000000-CostSaved';
import { ModelCache1795750000000 } from './1795750000000-ModelCache';
import { HealthChecks1795800000000 } from './1795800000000-HealthChecks';
import { ProbeMode1795850000000 } from './1795850000000-ProbeMode';
import { UsageRollups1796000000000 } from './1796000000000-UsageRollups';
import { PreferenceUsage1796100000000 } from './1796100000000-PreferenceUsage';
import { AdminCatalog1796200000000 } from './1796200000000-AdminCatalog';
import { UsageDeploymentRollups1796300000000 } from './1796300000000-UsageDeploymentRollups';
import { HealthValidUntil1796400000000 } from './1796400000000-HealthValidUntil';
import { UsageAttempts1796500000000 } from './1796500000000-UsageAttempts';
import { UsageRetentionEdges1796600000000 } from './1796600000000-UsageRetentionEdges';
import { ListingIndexes1796700000000 } from './1796700000000-ListingIndexes';
import { UserNameSearch1796800000000 } from './1796800000000-UserNameSearch';
import { SeededSettings1796900000000 } from './1796900000000-SeededSettings';
import { UsageClientClosed1797000000000 } from './1797000000000-UsageClientClosed';
import { HealthAlertOutbox1797050000000 } from './1797050000000-HealthAlertOutbox';
import { PreferenceUsageBatches1797100000000 } from './1797100000000-PreferenceUsageBatches';
import { UnservedModels1797200000000 } from './1797200000000-UnservedModels';
import { MaxEmbeddingInputs1797300000000 } from './1797300000000-MaxEmbeddingInputs';
import { ShortDisplayNames1798500000000 } from './1798500000000-ShortDisplayNames';
import { ProviderLatency1799300000000 } from './1799300000000-ProviderLatency';

/** Every migration, oldest first. Append new ones; never edit one that has shipped. */
export const MIGRATIONS = [
  Initial1795254620694,
  CacheWritePrice1795400000000,
  Governance1795500000000,
  ProviderPlugin1795600000000,
  CostSaved1795700000000,
  ModelCache1795750000000,
  HealthChecks1795800000000,
  ProbeMode1795850000000,
  UsageRollups1796000000000,
  PreferenceUsage1796100000000,
  AdminCatalog1796200000000,
  UsageDeploymentRollups1796300000000,
  HealthValidUntil1796400000000,
  UsageAttempts1796500000000,
  UsageRetentionEdges1796600000000,
  ListingIndexes1796700000000,
  UserNameSearch1796800000000,
  SeededSettings1796900000000,
  UsageClientClosed1797000000000,
  HealthAlertOutbox1797050000000,
  PreferenceUsageBatches1797100000000,
  UnservedModels1797200000000,
  MaxEmbeddingInputs1797300000000,
  ShortDisplayNames1798500000000,
  ProviderLatency1799300000000,
] as const;
