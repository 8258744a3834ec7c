import type { GatewaySpec, ModelSpec, ProviderSpec } from '@aigw/core';
import type { GatewayEntity } from '../entities/gateway.entity';
import type { ModelEntity } from '../entities/model.entity';
import type { ProviderEntity } from '../entities/provider.entity';

/** Catalog spec ↔ row field mapping, and the comparison that keeps seeding idempotent. */

export type GatewayFields = Pick<GatewayEntity, 'baseUrl' | 'timeoutMs' | 'encryptedSecret' | 'apiKeyRef'>;
export type ProviderFields = Pick<
  ProviderEntity,
  | 'kind'
  | 'baseUrl'
  | 'routing'
  | 'gatewayId'
  | 'enabled'
  | 'timeoutMs'
  | 'maxConnections'
  | 'encryptedSecret'
  | 'apiKeyRef'
  | 'pluginModule'
  | 'healthPath'
  | 'probeMode'
  | 'displayName'
  | 'healthIntervalS'
  | 'maxEmbeddingInputs'
>;
export type ModelFields = Pick<
  ModelEntity,
  | 'upstreamName'
  | 'displayName'
  | 'description'
  | 'promptPer1k'
  | 'completionPer1k'
  | 'cachedPromptPer1k'
  | 'cacheWritePer1k'
  | 'contextWindow'
  | 'capabilities'
  | 'quality'
  | 'recommended'
  | 'enabled'
  | 'cache'
>;

export function providerFields(p: ProviderSpec, encryptedSecret: string | null): ProviderFields {
  return {
    kind: p.kind,
    baseUrl: p.baseUrl,
    routing: p.routing,
    gatewayId: p.gateway ?? null,
    enabled: p.enabled,
    timeoutMs: p.timeoutMs,
    maxConnections: p.maxConnections,
    encryptedSecret,
    apiKeyRef: p.apiKeyRef ?? null,
    pluginModule: p.plugin ?? null,
    healthPath: p.healthPath ?? null,
    probeMode: p.probe ?? 'health',
    displayName: p.displayName ?? null,
    healthIntervalS: p.healthIntervalS ?? null,
    maxEmbeddingInputs: p.maxEmbeddingInputs ?? null,
  };
}

export function modelFields(m: ModelSpec): ModelFields {
  return {
    upstreamName: m.upstreamName ?? m.name,
    displayName: m.displayName ?? null,
    description: m.description ?? null,
    promptPer1k: m.promptPer1k,
    completionPer1k: m.completionPer1k,
    cachedPromptPer1k: m.cachedPromptPer1k ?? null,
    cacheWritePer1k: m.cacheWritePer1k ?? null,
    contextWindow: m.contextWindow,
    capabilities: [...m.capabilities],
    quality: m.quality ?? null,
    recommended: m.recommended ?? false,
    enabled: m.enabled,
    cache: m.cache === undefined || Object.keys(m.cache).length === 0 ? null : { ...m.cache },
  };
}

function sameValue(key: string, a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number') {
    // `quality` is a PostgreSQL real (float4); prices are numeric(18,9).
    return key === 'quality' ? Math.fround(a) === Math.fround(b) : Math.round(a * 1e9) === Math.round(b * 1e9);
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((v, i) => v === b[i]);
  }
  if (isRecord(a) && isRecord(b)) {
    // jsonb settings (`cache`): flat objects of scalars, compared key by key whatever their order.
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].every((k) => a[k] === b[k]);
  }
  return a === b;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Names of the fields of `next` that differ from `row`. */
export function changedFields<T extends object>(row: T, next: Partial<T>): string[] {
  return Object.keys(next).filter((k) => !sameValue(k, row[k as keyof T], next[k as keyof T]));
}

export function modelFromRow(row: ModelEntity): ModelSpec {
  return {
    name: row.name,
    ...(row.upstreamName === row.name ? {} : { upstreamName: row.upstreamName }),
    ...(row.displayName === null || row.displayName === undefined ? {} : { displayName: row.displayName }),
    ...(row.description === null || row.description === undefined ? {} : { description: row.description }),
    promptPer1k: row.promptPer1k,
    completionPer1k: row.completionPer1k,
    ...(row.cachedPromptPer1k === null ? {} : { cachedPromptPer1k: row.cachedPromptPer1k }),
    ...(row.cacheWritePer1k === null || row.cacheWritePer1k === undefined
      ? {}
      : { cacheWritePer1k: row.cacheWritePer1k }),
    contextWindow: row.contextWindow,
    capabilities: row.capabilities,
    ...(row.quality === null ? {} : { quality: row.quality }),
    ...(row.recommended ? { recommended: true } : {}),
    enabled: row.enabled,
    ...(row.cache === null || row.cache === undefined ? {} : { cache: row.cache }),
  };
}

export function providerFromRow(row: ProviderEntity, apiKey: string | undefined, models: ModelSpec[]): ProviderSpec {
  return {
    id: row.id,
    ...(row.displayName === null || row.displayName === undefined ? {} : { displayName: row.displayName }),
    // Kinds the core type does not know yet stay as stored; adapters reject what they cannot serve.
    kind: row.kind as ProviderSpec['kind'],
    baseUrl: row.baseUrl,
    ...(apiKey === undefined ? {} : { apiKey }),
    ...(row.apiKeyRef === null || row.apiKeyRef === undefined ? {} : { apiKeyRef: row.apiKeyRef }),
    enabled: row.enabled,
    timeoutMs: row.timeoutMs,
    maxConnections: row.maxConnections,
    routing: row.routing,
    ...(row.gatewayId === null ? {} : { gateway: row.gatewayId }),
    ...(row.pluginModule === null || row.pluginModule === undefined ? {} : { plugin: row.pluginModule }),
    ...(row.healthPath === null || row.healthPath === undefined ? {} : { healthPath: row.healthPath }),
    ...(row.probeMode === 'completion' ? { probe: row.probeMode } : {}),
    ...(row.healthIntervalS === null || row.healthIntervalS === undefined
      ? {}
      : { healthIntervalS: row.healthIntervalS }),
    ...(row.maxEmbeddingInputs === null || row.maxEmbeddingInputs === undefined
      ? {}
      : { maxEmbeddingInputs: row.maxEmbeddingInputs }),
    models,
  };
}

export function gatewayFields(g: GatewaySpec, encryptedSecret: string | null): GatewayFields {
  return { baseUrl: g.baseUrl, timeoutMs: g.timeoutMs, encryptedSecret, apiKeyRef: g.apiKeyRef ?? null };
}

export function gatewayFromRow(row: GatewayEntity, apiKey: string | undefined): GatewaySpec {
  return {
    id: row.id,
    baseUrl: row.baseUrl,
    ...(apiKey === undefined ? {} : { apiKey }),
    ...(row.apiKeyRef === null || row.apiKeyRef === undefined ? {} : { apiKeyRef: row.apiKeyRef }),
    timeoutMs: row.timeoutMs,
  };
}
