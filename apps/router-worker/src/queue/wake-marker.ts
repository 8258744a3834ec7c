/*
 * BullMQ wakes idle workers with a "marker" in a sorted set they block on (BZPOPMIN). Its moveToActive
 * script re-adds that marker every time it hands out a job, whether or not another job is left, so that
 * a second worker wakes for a second job. When nothing is left, the worker that just took the job wakes
 * itself: one BZPOPMIN that returns at once and one more moveToActive script that finds nothing, two Redis
 * round trips (and a Lua run) per job, paid exactly when the gateway is lightly loaded and latency is what
 * counts. Measured at one connection: 2.91 moveToActive and 2.05 BZPOPMIN per job where 2 and 1 do.
 *
 * This module makes the re-added marker conditional on a job being left to take (the wait list or the
 * prioritized set is not empty). Nothing else changes: a job added later adds its own marker (addJob), and
 * delayed jobs are promoted with theirs. The script is BullMQ's own text with one line wrapped, edited in
 * memory before any connection loads it; if BullMQ's text no longer has the line, nothing is changed and
 * `conditionalWakeMarker()` says so (a spec pins the installed version's text, so an upgrade that moves the
 * line fails CI instead of silently dropping the saving).
 */

interface BullScript {
  name: string;
  content: string;
  keys: number;
}

/** The line in moveToActive's prepareJobForProcessing that re-adds the marker unconditionally. */
export const MARKER_LINE = '  addBaseMarkerIfNeeded(markerKey, false)\n  -- rate limit delay must be 0';

/** KEYS[1] is the wait list and KEYS[3] the prioritized set in moveToActive-11. */
export const CONDITIONAL_MARKER_LINE =
  '  if rcall("LLEN", KEYS[1]) > 0 or rcall("ZCARD", KEYS[3]) > 0 then -- aigw: wake others only for a job left\n' +
  '    addBaseMarkerIfNeeded(markerKey, false)\n' +
  '  end\n' +
  '  -- rate limit delay must be 0';

/** BullMQ's moveToActive script object, as its connections load it (one shared module instance). */
export function bullMoveToActive(): BullScript {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- BullMQ's script table has no public entry point; the object must be the one its connections read
  const scripts = require('bullmq/dist/cjs/scripts') as { moveToActive: BullScript };
  return scripts.moveToActive;
}

/** Rewrites a moveToActive script's text; null when the expected line is not there (exactly once). */
export function withConditionalMarker(content: string): string | null {
  if (content.includes(CONDITIONAL_MARKER_LINE)) {
    return content;
  }
  const at = content.indexOf(MARKER_LINE);
  if (at < 0 || content.indexOf(MARKER_LINE, at + 1) >= 0) {
    return null;
  }
  return content.slice(0, at) + CONDITIONAL_MARKER_LINE + content.slice(at + MARKER_LINE.length);
}

/**
 * Installs the conditional marker in this process (idempotent). Must run before the first BullMQ connection
 * is made (a connection loads the script once). Returns whether the script now has it.
 */
export function conditionalWakeMarker(): boolean {
  const script = bullMoveToActive();
  const patched = withConditionalMarker(script.content);
  if (patched === null) {
    return false;
  }
  script.content = patched;
  return true;
}
