import { InvalidEnvironmentError, validateEnv } from '@aigw/core';

/**
 * Validates process.env against the app's schema; on failure prints every bad variable and exits 1,
 * before anything connects anywhere.
 */
export function loadEnvOrExit<T extends object>(schema: new () => T, appName: string): T {
  try {
    return validateEnv(schema, process.env);
  } catch (err) {
    if (err instanceof InvalidEnvironmentError) {
      process.stderr.write(`[${appName}] ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}
