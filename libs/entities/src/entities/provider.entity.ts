import { PROVIDER_HEALTH_STATUSES, type ProbeMode, type ProviderHealthStatus, type RoutingMethod } from '@aigw/core';
import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryColumn,
  UpdateDateColumn,
} from 'typeorm';
import { GatewayEntity } from './gateway.entity';

export { PROVIDER_HEALTH_STATUSES, type ProviderHealthStatus };

/**
 * Where a provider row came from. The catalog seed only touches `file` rows; the admin API
 * marks what it edits `admin` so that the next boot does not undo the edit.
 */
export type ProviderSource = 'file' | 'admin';

@Entity({ name: 'providers' })
@Index('ix_providers_gateway_id', ['gatewayId'])
@Check('ck_providers_routing', `"routing" IN ('direct', 'gateway', 'auto')`)
@Check('ck_providers_health_status', `"health_status" IN ('unknown', 'healthy', 'degraded', 'failing')`)
@Check('ck_providers_source', `"source" IN ('file', 'admin')`)
@Check('ck_providers_timeout_ms', '"timeout_ms" > 0')
@Check('ck_providers_max_connections', '"max_connections" > 0')
@Check('ck_providers_probe_mode', `"probe_mode" IN ('health', 'completion')`)
@Check('ck_providers_health_interval_s', '"health_interval_s" > 0')
@Check('ck_providers_max_embedding_inputs', '"max_embedding_inputs" > 0')
@Check('ck_providers_plugin_module', `("kind" = 'plugin') = ("plugin_module" IS NOT NULL)`)
export class ProviderEntity {
  /** The catalog id, used in `provider/model` refs. */
  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'pk_providers' })
  id: string;

  /** Shown to people (models listing, preferences); null: the id. */
  @Column({ name: 'display_name', type: 'text', nullable: true })
  displayName: string | null;

  /** Wire protocol (`openai`, `anthropic`, ...). Not a CHECK constraint: new adapters add kinds. */
  @Column({ type: 'text' })
  kind: string;

  @Column({ name: 'base_url', type: 'text' })
  baseUrl: string;

  /** `kind: plugin`: the module implementing the adapter (a path relative to the working directory, or a package). */
  @Column({ name: 'plugin_module', type: 'text', nullable: true })
  pluginModule: string | null;

  /** A health endpoint on the baseUrl's origin that health checks read instead of the model list (`/health`). */
  @Column({ name: 'health_path', type: 'text', nullable: true })
  healthPath: string | null;

  /** `health` (model list or health endpoint, never billed) unless the catalog opts in to a `completion` probe. */
  @Column({ name: 'probe_mode', type: 'text', default: 'health' })
  probeMode: ProbeMode;

  @Column({ type: 'text', default: 'direct' })
  routing: RoutingMethod;

  @Column({ name: 'gateway_id', type: 'text', nullable: true })
  gatewayId: string | null;

  @ManyToOne(() => GatewayEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'gateway_id', foreignKeyConstraintName: 'fk_providers_gateway' })
  gateway?: GatewayEntity | null;

  @Column({ type: 'boolean', default: true })
  enabled: boolean;

  @Column({ name: 'health_status', type: 'text', default: 'unknown' })
  healthStatus: ProviderHealthStatus;

  @Column({ name: 'consecutive_failures', type: 'integer', default: 0 })
  consecutiveFailures: number;

  @Column({ name: 'last_check_at', type: 'timestamptz', nullable: true })
  lastCheckAt: Date | null;

  /** Past this instant the status is no longer confirmed by a probe and reads as `unknown` (`currentHealth`). */
  @Column({ name: 'health_valid_until', type: 'timestamptz', nullable: true })
  healthValidUntil: Date | null;

  /** Secret-free description of what failed in the last probe; null when every route of it worked. */
  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError: string | null;

  /**
   * The routed models (by upstream name) the provider's own model list lacked at the last probe that could tell, on
   * every route its traffic takes; null: none known. Written with the status (`ProviderHealthStore`); read with the
   * catalog only while that probe is not older than the settings (`updated_at`) and the status holds
   * (`unservedOf`): routing tries those deployments last, the native listing says `model_unserved`.
   */
  @Column({ name: 'unserved_models', type: 'jsonb', nullable: true })
  unservedModels: string[] | null;

  /** Seconds between health probes of this provider; null: HEALTH_INTERVAL_S. */
  @Column({ name: 'health_interval_s', type: 'integer', nullable: true })
  healthIntervalS: number | null;

  /** Most inputs per embeddings request (catalog `maxEmbeddingInputs`); null: the default of its family. */
  @Column({ name: 'max_embedding_inputs', type: 'integer', nullable: true })
  maxEmbeddingInputs: number | null;

  /** When the monitor last read the provider's model list (see `provider_discovered_models`). */
  @Column({ name: 'models_refreshed_at', type: 'timestamptz', nullable: true })
  modelsRefreshedAt: Date | null;

  @Column({ name: 'timeout_ms', type: 'integer', default: 60000 })
  timeoutMs: number;

  @Column({ name: 'max_connections', type: 'integer', default: 128 })
  maxConnections: number;

  /** SecretBox envelope of the provider's API key; never returned by an endpoint. */
  @Column({ name: 'encrypted_secret', type: 'text', nullable: true })
  encryptedSecret: string | null;

  /** The `${VAR}` reference the key was configured with (exported instead of the key); null: a literal or none. */
  @Column({ name: 'api_key_ref', type: 'text', nullable: true })
  apiKeyRef: string | null;

  @Column({ type: 'text', default: 'file' })
  source: ProviderSource;

  /**
   * What the catalog file (or the provider variables) said of this provider when the row last agreed with it: the
   * fields as stored (the key sealed like `encrypted_secret`) and `models`, written by the boot seed only. The seed
   * leaves an `admin` row alone and warns about what the file says otherwise, but only for what the file changed
   * since: a provider an admin disabled, or whose timeout an admin raised, differs from the file at every boot, and
   * a warning every boot about a deliberate edit is noise an operator learns to ignore. Null: not seeded since the
   * column was added (the next seed warns about every difference once, then records it).
   */
  @Column({ type: 'jsonb', nullable: true })
  seeded: object | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
