import { InvalidEnvironmentError, misspelledVariables, validateEnv } from '@aigw/core';
import { jsonLine } from '../lifecycle/start-failure';

/**
 * Validates process.env against the app's schema; on failure prints every bad variable and exits 1,
 * before anything connects anywhere.
 */
export function loadEnvOrExit<T extends object>(schema: new () => T, appName: string): T {
  const env = loadEnvOrReport(schema, appName);
  if (env === null) {
    process.exit(1);
  }
  return env;
}

/**
 * Validates process.env against the app's schema; on failure prints every bad variable and answers null, for a
 * process hosting several apps (ADR 0010) to report each app's before it exits, as the split apps each would.
 */
export function loadEnvOrReport<T extends object>(schema: new () => T, appName: string): T | null {
  warnMisspelled(schema, appName);
  try {
    return validateEnv(schema, process.env);
  } catch (err) {
    if (err instanceof InvalidEnvironmentError) {
      process.stderr.write(
        process.env.LOG_FORMAT === 'json' ? `${jsonLine(appName, err.message)}\n` : `[${appName}] ${err.message}\n`,
      );
      return null;
    }
    throw err;
  }
}

/** Variables already warned about: the single process checks the environment once per app it hosts. */
const warned = new Set<string>();

/**
 * Warns (once per variable and process, at boot only) about a variable the app ignores that is a typo away from one
 * it reads (misspelledVariables): `REDIS_URI` would otherwise leave REDIS_URL at its default without a word. Only
 * names are printed, never a value.
 */
function warnMisspelled(schema: new () => object, appName: string): void {
  for (const { variable, intended } of misspelledVariables([schema], process.env)) {
    if (warned.has(variable)) {
      continue;
    }
    warned.add(variable);
    const message = `${variable} is not a variable the ${appName} reads (ignored): did you mean ${intended}?`;
    process.stderr.write(
      process.env.LOG_FORMAT === 'json'
        ? `${jsonLine(appName, message, undefined, 'warn')}\n`
        : `[${appName}] warning: ${message}\n`,
    );
  }
}
