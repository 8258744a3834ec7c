import { InvalidEnvironmentError, validateEnv } from '@aigw/core';
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
