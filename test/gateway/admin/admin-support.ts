import { randomUUID } from 'node:crypto';
import type { UsageEvent } from '@aigw/core';
import { AuditLogStore, UsageStore, type AuditRecord } from '@aigw/entities';
import { DataSource } from 'typeorm';
import type { ErrorEnvelope, GatewayHarness } from '../support';

export interface UserBody {
  id: string;
  name: string;
  tier: string;
  createdAt: string;
}

export interface KeyBody {
  id: string;
  key?: string;
  prefix: string;
  userId: string;
  userName: string;
  role: string;
  name: string | null;
  expiresAt: string | null;
  allowedModels: string[] | null;
  rpm: number | null;
  tpm: number | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

export interface Reply<T> {
  status: number;
  body: T;
}

/** One admin-API call with a JSON body; the answer parsed. */
export async function call<T = unknown>(
  h: GatewayHarness,
  method: string,
  route: string,
  body?: unknown,
  key = h.adminKey,
): Promise<Reply<T>> {
  const res = await fetch(`${h.url}${route}`, {
    method,
    headers: body === undefined ? { authorization: `Bearer ${key}` } : h.headers(key),
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text === '' ? null : JSON.parse(text)) as T };
}

/** An entry of the exported configuration: its catalog document (`id`, `baseUrl` and the rest). */
export type ExportedEntry = Record<string, unknown> & { id: string; baseUrl: string };

/** The configuration as `GET /config/export?format=json` gives it, to change and import back. */
export async function exportedConfig(
  h: GatewayHarness,
): Promise<{ gateways: ExportedEntry[]; providers: ExportedEntry[] }> {
  const res = await call<{ gateways: ExportedEntry[]; providers: ExportedEntry[] }>(
    h,
    'GET',
    '/api/v1/ai/admin/config/export?format=json',
  );
  if (res.status !== 200) {
    throw new Error(`exporting the configuration: ${res.status} ${JSON.stringify(res.body)}`);
  }
  return res.body;
}

export function errorOf(reply: Reply<unknown>): ErrorEnvelope['error'] {
  return (reply.body as ErrorEnvelope).error;
}

export async function createUser(h: GatewayHarness, name: string, tier?: string): Promise<UserBody> {
  const res = await call<UserBody>(h, 'POST', '/api/v1/ai/admin/users', tier === undefined ? { name } : { name, tier });
  if (res.status !== 201) {
    throw new Error(`creating user ${name}: ${res.status} ${JSON.stringify(res.body)}`);
  }
  return res.body;
}

export async function createKey(h: GatewayHarness, body: Record<string, unknown>): Promise<KeyBody & { key: string }> {
  const res = await call<KeyBody & { key: string }>(h, 'POST', '/api/v1/ai/admin/keys', body);
  if (res.status !== 201) {
    throw new Error(`creating key: ${res.status} ${JSON.stringify(res.body)}`);
  }
  return res.body;
}

export function audit(h: GatewayHarness, target?: string): Promise<AuditRecord[]> {
  return new AuditLogStore(h.app.get(DataSource)).list({ target });
}

export function usageEvent(userId: string, over: Partial<UsageEvent> = {}): UsageEvent {
  return {
    requestId: `req_${randomUUID()}`,
    userId,
    apiKeyId: randomUUID(),
    requestedModel: 'sim-gpt',
    provider: 'sim',
    model: 'sim-gpt',
    context: null,
    promptTokens: 10,
    completionTokens: 5,
    cachedTokens: 0,
    costUsd: 0.001,
    latencyMs: 10,
    cached: false,
    status: 'success',
    errorClass: null,
    errorCode: null,
    attempts: 1,
    policy: null,
    stream: false,
    createdAt: new Date().toISOString(),
    ...over,
  };
}

export async function recordUsage(h: GatewayHarness, events: UsageEvent[]): Promise<void> {
  await new UsageStore(h.app.get(DataSource)).insertBatch(events);
}
