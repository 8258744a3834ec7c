import { performance } from 'node:perf_hooks';
import { classifyError } from './errors/classify';
import type { HealthResult } from './types';
import type { CallerSignal } from './http/caller-signal';

/**
 * A health probe is a cheap authenticated read (the model list, or a server's health endpoint): it proves
 * reachability and a working key. When `read` yields the model list, the result carries it.
 */
export async function probe(read: () => Promise<unknown>, signal: CallerSignal): Promise<HealthResult> {
  const started = performance.now();
  try {
    const value = await read();
    const result: HealthResult = { ok: true, latencyMs: Math.round(performance.now() - started), status: 200 };
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) {
      result.models = value;
    }
    return result;
  } catch (err) {
    const e = classifyError(err, signal);
    return {
      ok: false,
      latencyMs: Math.round(performance.now() - started),
      status: e.status,
      message: e.message,
      error: e,
    };
  }
}
