import { plainToInstance } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';

/**
 * A mistake in what the operator configured (a catalog or tiers file, a key, a plugin module) whose message says
 * what to fix, naming the file, field or variable. A process that fails to start on one prints its message and the
 * messages of the ConfigurationErrors it wraps, without a stack: the code that noticed the mistake is of no use to
 * the operator. Its other causes (the `ENOENT`, the YAML parser's error) stay on the error for a debugger; the
 * message already says what they mean.
 */
export class ConfigurationError extends Error {
  /**
   * The cause is an error of the operator's own code (a plugin module that threw as it loaded or built its adapter):
   * its stack, which leads to the line at fault, is printed under the message.
   */
  readonly ownCodeFailed: boolean;

  constructor(message?: string, options?: ErrorOptions & { ownCodeFailed?: boolean }) {
    super(message, options);
    this.ownCodeFailed = options?.ownCodeFailed === true && options.cause instanceof Error;
  }
}

export class InvalidEnvironmentError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid environment variables:\n  - ${problems.join('\n  - ')}`);
    this.name = 'InvalidEnvironmentError';
  }
}

function describe(errors: ValidationError[], given: Record<string, string>): string[] {
  return errors.flatMap((e) => {
    // A numeric variable whose text is no number (`@Type(() => Number)` made it NaN): its range messages
    // ("must not be less than 1") would only mislead.
    if (typeof e.value === 'number' && Number.isNaN(e.value)) {
      return [`${e.property}: must be a number, got "${given[e.property]}"`];
    }
    return Object.values(e.constraints ?? {}).map((msg) => `${e.property}: ${msg}`);
  });
}

/**
 * Validates the environment once at boot against a class-validator schema. Values are
 * converted with `@Type`/`@Transform` on the schema; unknown variables are ignored, and empty or blank ones are unset.
 * Throws InvalidEnvironmentError naming every bad variable.
 */
export function validateEnv<T extends object>(schema: new () => T, env: Record<string, string | undefined>): T {
  const defined: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    // Empty or blank is unset (the default applies): `PORT=" "` would otherwise be Number(" ") = 0, a random port.
    if (v !== undefined && v.trim() !== '') {
      defined[k] = v;
    }
  }
  const instance = plainToInstance(schema, defined, { exposeDefaultValues: true });
  const errors = validateSync(instance, { skipMissingProperties: false, forbidUnknownValues: false });
  if (errors.length > 0) {
    throw new InvalidEnvironmentError(describe(errors, defined));
  }
  return instance;
}

/** Where every process (and the CLIs) find PostgreSQL and Redis when nothing is configured: a local dev box. */
export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379/0';
