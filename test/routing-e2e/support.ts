import { randomUUID } from 'node:crypto';
import type { Attempt, ErrorBody } from '@aigw/core';
import type { ProviderSimulator } from '@aigw/testing';
import { TestSystem, type AppProcess, type SystemOptions } from '../e2e/harness';

/*
 * Routing end to end: the built gateway and two router-worker processes against simulators on loopback,
 * with a catalog written for each suite and small breaker/backoff settings so that no test waits long.
 */

export const CHAT_ROUTE = 'POST /v1/chat/completions';

/** Provider calls a simulator received (OpenAI wire). */
export function callsTo(sim: ProviderSimulator): number {
  return sim.stats().byRoute[CHAT_ROUTE] ?? 0;
}

export interface ProviderEntry {
  id: string;
  baseUrl: string;
  models: { name: string; promptPer1k: number; completionPer1k?: number; quality?: number; upstreamName?: string }[];
  routing?: 'direct' | 'gateway' | 'auto';
  gateway?: string;
  timeoutMs?: number;
  /** The provider's connection limit per worker process (catalog `maxConnections`). */
  maxConnections?: number;
  /** The wire format (catalog `kind`): `openai` unless named. */
  kind?: 'openai' | 'tgi';
}

export function catalogYaml(
  providers: ProviderEntry[],
  gateways: { id: string; baseUrl: string; apiKey: string }[] = [],
): string {
  const lines = ['providers:'];
  for (const p of providers) {
    lines.push(`  - id: ${p.id}`, `    kind: ${p.kind ?? 'openai'}`, `    baseUrl: ${p.baseUrl}`);
    lines.push(`    apiKey: sk-${p.id}-secret`);
    lines.push(`    timeoutMs: ${p.timeoutMs ?? 5000}`);
    if (p.maxConnections !== undefined) {
      lines.push(`    maxConnections: ${p.maxConnections}`);
    }
    if (p.routing) {
      lines.push(`    routing: ${p.routing}`);
    }
    if (p.gateway) {
      lines.push(`    gateway: ${p.gateway}`);
    }
    lines.push('    models:');
    for (const m of p.models) {
      const fields = [
        `name: ${m.name}`,
        `promptPer1k: ${m.promptPer1k}`,
        `completionPer1k: ${m.completionPer1k ?? m.promptPer1k}`,
        'contextWindow: 8192',
        'capabilities: [chat, streaming]',
        ...(m.quality === undefined ? [] : [`quality: ${m.quality}`]),
        ...(m.upstreamName === undefined ? [] : [`upstreamName: ${m.upstreamName}`]),
      ];
      lines.push(`      - { ${fields.join(', ')} }`);
    }
  }
  if (gateways.length > 0) {
    lines.push('gateways:');
    for (const g of gateways) {
      lines.push(`  - { id: ${g.id}, baseUrl: ${g.baseUrl}, apiKey: ${g.apiKey}, timeoutMs: 5000 }`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Two router-workers by default: every routing suite checks that state is shared across processes. */
export function routingSystem(opts: SystemOptions): TestSystem {
  return new TestSystem({ workers: 2, ...opts, env: { LOG_LEVEL: 'warn', ...opts.env } });
}

export interface Answer {
  status: number;
  headers: Headers;
  body: {
    error?: ErrorBody;
    choices?: { message: { content: string } }[];
    provider?: string;
    text?: string;
    attempts?: Attempt[];
  };
}

/** Every message is unique, so no response cache or de-duplication can answer for the workers. */
export function uniqueText(label: string): string {
  return `${label} ${randomUUID()}`;
}

/** POST /v1/chat/completions, not streamed. */
export async function chat(
  system: TestSystem,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...system.headers(), ...headers },
    body: JSON.stringify({ messages: [{ role: 'user', content: uniqueText('hello') }], ...body }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Answer['body'] };
}

/** POST /api/v1/ai/generate (native API: attempts are in the body on success too). */
export async function generate(system: TestSystem, body: Record<string, unknown>): Promise<Answer> {
  const res = await fetch(`${system.gatewayUrl}/api/v1/ai/generate`, {
    method: 'POST',
    headers: system.headers(),
    body: JSON.stringify({ prompt: uniqueText('hello'), ...body }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Answer['body'] };
}

/** A streamed chat completion, read to its end: the SSE data lines and the response. */
export async function chatStream(
  system: TestSystem,
  body: Record<string, unknown>,
): Promise<{ status: number; headers: Headers; events: string[]; raw: string }> {
  const res = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: system.headers(),
    body: JSON.stringify({ messages: [{ role: 'user', content: uniqueText('stream') }], stream: true, ...body }),
  });
  const raw = await res.text();
  const events = raw
    .split('\n')
    .filter((l) => l.startsWith('data: '))
    .map((l) => l.slice('data: '.length));
  return { status: res.status, headers: res.headers, events, raw };
}

export async function metricsOf(app: AppProcess): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${app.port}/metrics`);
  return res.text();
}

/** Sum of a counter's samples matching every label given. */
export function counterSum(exposition: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) {
      continue;
    }
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return sum;
}

/** Generate jobs each worker process completed so far. */
export async function jobsPerWorker(system: TestSystem): Promise<number[]> {
  const texts = await Promise.all(system.workers().map((w) => metricsOf(w)));
  return texts.map((t) => counterSum(t, 'aigw_jobs_total', { queue: 'generation', name: 'generate' }));
}

/**
 * Sends `count` requests, `limit` at a time, and again while a worker has completed none of them (at most
 * `rounds` times); returns every answer, in order. Which worker takes a job is the queue's choice (the one blocked
 * first on the queue's marker is woken, and a worker with jobs in hand fetches the next ones itself), so a fixed
 * number of requests can all land on one process. A check that state is shared fleet-wide needs both to have
 * served some, so this makes sure they did instead of hoping. The job counters move as jobs complete, a little
 * after their answers: a late one only costs another round.
 */
export async function acrossWorkers<R>(
  system: TestSystem,
  count: number,
  limit: number,
  send: () => Promise<R>,
  rounds = 5,
): Promise<R[]> {
  const before = await jobsPerWorker(system);
  const answers: R[] = [];
  for (let round = 0; round < rounds; round++) {
    answers.push(...(await pooled(Array.from({ length: count }), limit, send)));
    const after = await jobsPerWorker(system);
    if (after.length === before.length && after.every((n, i) => n > before[i])) {
      return answers;
    }
  }
  throw new Error(`after ${answers.length} requests a router-worker has still completed none of them`);
}

/** Runs `fn` over `items` with at most `limit` at a time, keeping the results in order. */
export async function pooled<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]);
      }
    }),
  );
  return out;
}
