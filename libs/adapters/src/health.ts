import { performance } from 'node:perf_hooks';
import { classifyError } from './errors/classify';
import type { HealthResult } from './types';

/** A health probe is a cheap authenticated read (the model list): it proves reachability and a working key. */
export async function probe(read: () => Promise<unknown>, signal: AbortSignal): Promise<HealthResult> {
  const started = performance.now();
  try {
    await read();
    return { ok: true, latencyMs: Math.round(performance.now() - started), status: 200 };
  } catch (err) {
    const e = classifyError(err, signal);
    return { ok: false, latencyMs: Math.round(performance.now() - started), status: e.status, message: e.message };
  }
}
