import { getMetadataStorage } from 'class-validator';
import { ENV_PRESETS } from './provider-env';

/** The variables an env schema reads: the properties its class-validator decorators name, its base class's too. */
export function variablesOf(schema: new () => object): string[] {
  return [
    ...new Set(
      getMetadataStorage()
        .getTargetValidationMetadatas(schema, '', true, false)
        .map((m) => m.propertyName),
    ),
  ];
}

/** The variables that register a provider without PROVIDERS_FILE (read by the catalog, not by a schema). */
const PRESET_VARIABLES: readonly string[] = ENV_PRESETS.flatMap((p) =>
  [p.variable, p.urlVariable, p.modelsVariable].filter((v): v is string => v !== undefined),
);

/**
 * Optimal string alignment distance (Levenshtein with swaps of neighbours: `DATABSE_URL` is one from `DATABASE_URL`),
 * or `limit + 1` once it is certainly above `limit`.
 */
function distance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) {
    return limit + 1;
  }
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, before[j - 2] + 1);
      }
      current.push(d);
      best = Math.min(best, d);
    }
    if (best > limit) {
      return limit + 1;
    }
    before = previous;
    previous = current;
  }
  return previous[b.length];
}

export interface MisspelledVariable {
  /** The variable as set, which nothing reads. */
  variable: string;
  /** The variable it most likely means. */
  intended: string;
}

/**
 * The variables of `env` that no schema of `schemas` (nor a provider preset) reads but that are a typo away from one
 * that is: `REDIS_URI`, `CACHE_ENABLE`, `DATABSE_URL`, `redis_url`. They are ignored (the environment holds many
 * unrelated variables), so the default applies without a word; the boot warns about these. Names are compared
 * ignoring case, within 2 edits of a known name of 8 characters or more and within 1 of a shorter one (`HOME` is 2
 * from `HOST`). Only names: a value is never looked at.
 */
export function misspelledVariables(
  schemas: readonly (new () => object)[],
  env: Record<string, string | undefined>,
): MisspelledVariable[] {
  const known = [...new Set([...schemas.flatMap(variablesOf), ...PRESET_VARIABLES])];
  const knownSet = new Set(known);
  const found: MisspelledVariable[] = [];
  for (const variable of Object.keys(env)) {
    if (knownSet.has(variable) || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(variable)) {
      continue;
    }
    const upper = variable.toUpperCase();
    let intended: string | undefined;
    let nearest = Infinity;
    for (const name of known) {
      const limit = name.length >= 8 ? 2 : 1;
      const d = distance(upper, name, limit);
      if (d <= limit && d < nearest) {
        intended = name;
        nearest = d;
      }
    }
    if (intended !== undefined) {
      found.push({ variable, intended });
    }
  }
  return found;
}
