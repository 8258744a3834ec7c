import { Check, Column, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import type { ProviderSource } from './provider.entity';

/** An OpenAI-compatible proxy (e.g. LiteLLM) that providers can be routed through. */
@Entity({ name: 'gateways' })
@Check('ck_gateways_timeout_ms', '"timeout_ms" > 0')
@Check('ck_gateways_source', `"source" IN ('file', 'admin')`)
export class GatewayEntity {
  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'pk_gateways' })
  id: string;

  @Column({ name: 'base_url', type: 'text' })
  baseUrl: string;

  /** SecretBox envelope; never returned by an endpoint. */
  @Column({ name: 'encrypted_secret', type: 'text', nullable: true })
  encryptedSecret: string | null;

  /** As ProviderEntity.apiKeyRef. */
  @Column({ name: 'api_key_ref', type: 'text', nullable: true })
  apiKeyRef: string | null;

  @Column({ name: 'timeout_ms', type: 'integer', default: 60000 })
  timeoutMs: number;

  /** As ProviderEntity.source: the boot seed leaves `admin` gateways alone. */
  @Column({ type: 'text', default: 'file' })
  source: ProviderSource;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
