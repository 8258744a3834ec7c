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

/**
 * A number as the environment should write it: decimal digits, a sign and a fraction at most. `Number()` (what
 * `@Type(() => Number)` calls) also reads `1e3` as 1000 and `0x1F` as 31, which no operator means for a port.
 */
const PLAIN_DECIMAL = /^\s*[+-]?(\d+(\.\d*)?|\.\d+)\s*$/;

/** The numeric variables whose text is a number only to `Number()` (exponent, hex, octal, binary, Infinity). */
function unplainNumbers(instance: object, given: Record<string, string>): Map<string, string> {
  const problems = new Map<string, string>();
  for (const [k, v] of Object.entries(instance)) {
    if (typeof v === 'number' && !Number.isNaN(v) && k in given && !PLAIN_DECIMAL.test(given[k])) {
      problems.set(k, `${k}: must be a plain decimal number, got "${given[k]}"`);
    }
  }
  return problems;
}

function describe(errors: ValidationError[], given: Record<string, string>, unplain: Map<string, string>): string[] {
  const problems = [...unplain.values()];
  return problems.concat(
    errors
      .filter((e) => !unplain.has(e.property))
      .flatMap((e) => {
        // A numeric variable whose text is no number (`@Type(() => Number)` made it NaN): its range messages
        // ("must not be less than 1") would only mislead.
        if (typeof e.value === 'number' && Number.isNaN(e.value)) {
          return [`${e.property}: must be a number, got "${given[e.property]}"`];
        }
        return Object.values(e.constraints ?? {}).map((msg) => `${e.property}: ${msg}`);
      }),
  );
}

/**
 * A schema some of whose defaults follow other variables (SHUTDOWN_GRACE_MS follows REQUEST_TIMEOUT_MS): a field
 * initializer sees only the other fields' defaults, so the values given are applied first, then the schema's static
 * `deriveDefaults` fills in `env` the variables `given` leaves unset, before validation. Static, so that an env object
 * spread into a copy (tests, the single process) is still of its schema's type.
 */
export interface DerivesDefaults<T> {
  deriveDefaults(env: T, given: Readonly<Record<string, string>>): void;
}

function derivesDefaults<T>(schema: new () => T): schema is (new () => T) & DerivesDefaults<T> {
  return typeof (schema as Partial<DerivesDefaults<T>>).deriveDefaults === 'function';
}

/**
 * Validates the environment once at boot against a class-validator schema. Values are
 * converted with `@Type`/`@Transform` on the schema; unknown variables are ignored, and empty or blank ones are unset;
 * numbers are plain decimals (`1e3` and `0x1F` are refused).
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
  if (derivesDefaults(schema)) {
    schema.deriveDefaults(instance, defined);
  }
  const errors = validateSync(instance, { skipMissingProperties: false, forbidUnknownValues: false });
  const unplain = unplainNumbers(instance, defined);
  if (errors.length > 0 || unplain.size > 0) {
    throw new InvalidEnvironmentError(describe(errors, defined, unplain));
  }
  return instance;
}

/** Where every process (and the CLIs) find PostgreSQL and Redis when nothing is configured: a local dev box. */
export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379/0';
