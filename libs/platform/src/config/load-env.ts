import { InvalidEnvironmentError, validateEnv } from '@aigw/core';
import { jsonLine } from '../lifecycle/start-failure';

/**
 * Validates process.env against the app's schema; on failure prints every bad variable and exits 1,
 * before anything connects anywhere.
 */
export function loadEnvOrExit<T extends object>(schema: new () => T, appName: string): T {
  try {
    return validateEnv(schema, process.env);
  } catch (err) {
    if (err instanceof InvalidEnvironmentError) {
      process.stderr.write(
        process.env.LOG_FORMAT === 'json' ? `${jsonLine(appName, err.message)}\n` : `[${appName}] ${err.message}\n`,
      );
      process.exit(1);
    }
    throw err;
  }
}
