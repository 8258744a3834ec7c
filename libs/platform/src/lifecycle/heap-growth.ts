import { setFlagsFromString } from 'node:v8';

/**
 * After each full GC, V8 lets the old generation grow to (1 + this / 100) × what survived before the next one.
 * 50 keeps a busy single process near its live heap (docs/benchmarks.md, "Memory of the gateway side"): its CPU per
 * request did not measurably change, while V8's own choice (up to 4× on a host with 2 GB or more) let ~90 MB of live
 * heap sit in 300–400 MB of RSS under load, almost all of it garbage waiting for the next full GC.
 */
export const HEAP_GROWING_PERCENT = 50;

const GROWING_FLAG = /--heap[-_]growing[-_]percent\b/;

/**
 * Caps the old generation's growth between full GCs (HEAP_GROWING_PERCENT), unless the operator set
 * `--heap-growing-percent` on the command line (`node --heap-growing-percent=N dist/...`; Node refuses it in
 * NODE_OPTIONS). Call it first thing in an app's main(): the flag is read at each full GC, so it takes effect from
 * the next one. It caps no heap size: a process whose live heap grows still gets the memory it needs, only later
 * garbage is collected sooner.
 */
export function boundHeapGrowth(execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((arg) => GROWING_FLAG.test(arg))) {
    return false;
  }
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  return true;
}
