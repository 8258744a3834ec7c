import { DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, HOUR_MS, parseRedisUrl } from '@aigw/core';
import { graceCovering } from '../lifecycle/shutdown';
import { Transform, Type } from 'class-transformer';
import { checkDatabaseUrl, SecretBox, usageRetentionProblem, type UsageRetention } from '@aigw/entities';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, Matches, Max, Min, registerDecorator } from 'class-validator';

const TRUE_WORDS: ReadonlySet<string> = new Set(['1', 'true', 'yes', 'on']);
const FALSE_WORDS: ReadonlySet<string> = new Set(['', '0', 'false', 'no', 'off']);

/**
 * A boolean variable's text as a boolean. Any other word stays a string, so `@IsBoolean` refuses it naming the
 * variable: a typo (`ture`, `nope`) must not quietly mean false.
 */
export const toBool = ({ value }: { value: unknown }): unknown => {
  if (typeof value !== 'string') {
    return value;
  }
  const word = value.trim().toLowerCase();
  return TRUE_WORDS.has(word) ? true : FALSE_WORDS.has(word) ? false : value;
};

/** A comma-separated variable as its items, each trimmed, empty ones left out (`a, b,` is `['a', 'b']`). */
export const toList = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string'
    ? value
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== '')
    : value;

/**
 * A property decorator accepting the values `parse` reads without throwing; the message of a refused one is what
 * `parse` threw, or `message` when it says nothing useful (`fixedMessage`).
 */
export function ReadableBy(
  name: string,
  parse: (value: string, variable: string) => unknown,
  fixedMessage?: string,
): PropertyDecorator {
  return (target: object, propertyName: string | symbol) => {
    const variable = String(propertyName);
    const problemOf = (value: unknown): string | null => {
      try {
        parse(String(value), variable);
        return null;
      } catch (err) {
        return fixedMessage ?? (err instanceof Error ? err.message : String(err));
      }
    };
    registerDecorator({
      name,
      target: target.constructor,
      propertyName: variable,
      validator: {
        validate: (value: unknown): boolean => problemOf(value) === null,
        defaultMessage: (args): string => problemOf(args?.value) ?? `${variable} is not usable`,
      },
    });
  };
}

/**
 * SECRETS_KEY: 32 bytes (hex or base64) when set, and set whenever NODE_ENV is `production` (elsewhere a development
 * key stands in). Checked with the rest, before anything connects, rather than by the catalog once migrations ran.
 */
function IsSecretsKey(): PropertyDecorator {
  const problemOf = (value: unknown, nodeEnv: unknown): string | null => {
    if (value === undefined) {
      return nodeEnv === 'production'
        ? `SECRETS_KEY is required when NODE_ENV=production: set it to ${KEY_FORMAT}`
        : null;
    }
    try {
      SecretBox.fromKey(typeof value === 'string' ? value : '');
      return null;
    } catch {
      return `SECRETS_KEY must be ${KEY_FORMAT}`;
    }
  };
  return (target: object, propertyName: string | symbol) => {
    registerDecorator({
      name: 'isSecretsKey',
      target: target.constructor,
      propertyName: String(propertyName),
      validator: {
        validate: (value: unknown, args): boolean => problemOf(value, nodeEnvOf(args?.object)) === null,
        defaultMessage: (args): string =>
          problemOf(args?.value, nodeEnvOf(args?.object)) ?? 'SECRETS_KEY is not usable',
      },
    });
  };
}

const KEY_FORMAT = '32 bytes given as 64 hex characters or as base64 (e.g. `openssl rand -base64 32`)';

function nodeEnvOf(env: object | undefined): unknown {
  return (env as { NODE_ENV?: unknown } | undefined)?.NODE_ENV;
}

/** SECRETS_KEY_PREVIOUS: keys in SECRETS_KEY's format, comma-separated; the message names the bad one's position. */
function IsPreviousSecretsKeys(): PropertyDecorator {
  return ReadableBy('isPreviousSecretsKeys', (value) => SecretBox.checkPreviousKeys(value));
}

/** A Redis URL the apps can open: what `parseRedisUrl` says is wrong with it, before anything connects. */
function IsRedisUrl(): PropertyDecorator {
  return ReadableBy('isRedisUrl', parseRedisUrl);
}

/**
 * HOST, the address an app listens on: a name or an address, in one word. One with a space (`"0.0.0.0 "`) would
 * fail the listen's DNS lookup, after everything had connected, with a stack instead of the variable's name.
 */
export function IsListenHost(): PropertyDecorator {
  return Matches(/^\S+$/, { message: 'HOST must be a host name or IP address, without spaces' });
}

/** Variables every process reads. Each app extends this with its own. */
export class BaseEnv {
  @IsIn(['development', 'production', 'test'])
  NODE_ENV: 'development' | 'production' | 'test' = 'development';

  /**
   * Trimmed, as the CLIs read it (readDatabaseEnv): a trailing space or newline (a Secret made from a file) became
   * part of the database name, `database "postgres " does not exist`, once everything else had started.
   */
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value))
  @ReadableBy('isDatabaseUrl', checkDatabaseUrl)
  DATABASE_URL = DEFAULT_DATABASE_URL;

  @Matches(/^[a-z_][a-z0-9_]{0,62}$/, { message: 'DATABASE_SCHEMA must be a lower-case SQL identifier' })
  DATABASE_SCHEMA = 'public';

  /** With REDIS_PASSWORD set and no password of its own, it logs in with that one (`withRedisPassword`). */
  @IsRedisUrl()
  REDIS_URL = DEFAULT_REDIS_URL;

  /**
   * REDIS_URL's password, for a deployment that keeps it apart from the URL (k8s: the Secret holds it once, for Redis,
   * the apps and KEDA's scaler alike, and the ConfigMap the URL). Not CACHE_REDIS_URL's: that may be another server.
   */
  @IsOptional()
  @IsString()
  REDIS_PASSWORD?: string;

  /** Namespace for every Redis key, queue and channel; lets several deployments (or test runs) share one Redis. */
  @Matches(/^[A-Za-z0-9_.-]{1,64}$/, { message: 'REDIS_PREFIX may hold letters, digits, _ . - (1..64 chars)' })
  REDIS_PREFIX = 'aigw';

  /**
   * Redis of the response cache (ADR 0005). Unset: the main Redis, where only TTL and CACHE_MAX_ENTRY_BYTES bound
   * it (BullMQ needs `noeviction` there); in production point it at its own Redis with `allkeys-lru`.
   */
  @IsOptional()
  @IsRedisUrl()
  CACHE_REDIS_URL?: string;

  @IsOptional()
  @IsString()
  PROVIDERS_FILE?: string;

  /**
   * How long a finished request's usage event may wait for others to share its usage job (USAGE_SHIP_AT_EVENTS
   * ship at once): in a worker, after the answer went out; in the api-gateway, for response-cache hits. Clients
   * never wait for it. In a worker it also bounds how long the event holds its job's slot: tried at 100 ms to save
   * usage jobs at low load, held slots then skewed jobs onto one worker (the two-worker auto-route e2e caught it),
   * so it stays short.
   */
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(1000)
  USAGE_LINGER_MS = 20;

  /** 32 bytes as hex or base64, required in production: checked here with the rest, before anything connects. */
  @IsSecretsKey()
  SECRETS_KEY?: string;

  /**
   * Old SECRETS_KEYs, comma-separated: secrets sealed under one still decrypt (new writes use SECRETS_KEY) until
   * `npm run secrets -- rotate` re-encrypts them under SECRETS_KEY. Checked here, like SECRETS_KEY.
   */
  @IsOptional()
  @IsString()
  @IsPreviousSecretsKeys()
  SECRETS_KEY_PREVIOUS?: string;

  @Transform(toBool)
  @IsBoolean()
  DB_SKIP_MIGRATIONS = false;

  /**
   * Let providers and gateways sit at link-local addresses (169.254.0.0/16, fe80::/10) and cloud metadata addresses.
   * Off: calls there are refused before connecting (HttpPool), so an admin key cannot turn the gateway against the
   * instance's metadata service (its cloud credentials). Loopback and private addresses (Ollama on localhost, vLLM on
   * the LAN) are allowed either way. Read where provider calls are made (the router-worker and the health-monitor),
   * and where the catalog is saved: off, the admin API refuses such a URL (400 naming `baseUrl`) and PROVIDERS_FILE
   * holding one stops the start (literal addresses only: a name resolving to one is refused when called). Only a URL
   * new or changed from the stored entry's is checked, so what an earlier release (or the variable) let in stays usable.
   */
  @Transform(toBool)
  @IsBoolean()
  PROVIDER_ALLOW_LINK_LOCAL = false;

  @IsIn(['error', 'warn', 'log', 'debug', 'verbose'])
  LOG_LEVEL: 'error' | 'warn' | 'log' | 'debug' | 'verbose' = 'log';

  @IsIn(['json', 'text'])
  LOG_FORMAT: 'json' | 'text' = 'text';

  /**
   * Seconds between catalog reloads from PostgreSQL: the safety net behind `provider.changed` messages, which
   * make every process reload at once after an admin change.
   */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(86_400)
  CATALOG_RELOAD_S = 30;

  /**
   * How long SIGTERM waits for in-flight work before closing connections. The apps that serve requests
   * (RequestDeadlineEnv: the api-gateway, the router-worker) default to REQUEST_TIMEOUT_MS plus 5 s, so that a stop
   * with the defaults cuts no request within its deadline; the health-monitor's own work is short. Up to the longest
   * REQUEST_TIMEOUT_MS plus those 5 s.
   */
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(graceCovering(HOUR_MS))
  SHUTDOWN_GRACE_MS = 25_000;

  /**
   * Days of usage_records (one row per request) kept; 0 keeps them for good. The health-monitor deletes older
   * ones; every process checks the three retentions alike (`IsUsageRetention`), so none boots with a retention
   * that deletes what the gateway reads back (the quota counters' current month).
   */
  @RetentionDays()
  USAGE_RETENTION_DAYS = 0;

  /** Days of hourly usage rollups (usage_hourly, usage_deployment_hourly) kept; 0 keeps them for good. */
  @RetentionDays()
  USAGE_HOURLY_RETENTION_DAYS = 0;

  /** Days of daily usage rollups (usage_daily, usage_deployment_daily) kept; 0 keeps them for good. */
  @RetentionDays()
  USAGE_DAILY_RETENTION_DAYS = 0;
}

/** The usage retention an environment sets. */
export function usageRetentionOf(env: BaseEnv): UsageRetention {
  return {
    rawDays: env.USAGE_RETENTION_DAYS,
    hourlyDays: env.USAGE_HOURLY_RETENTION_DAYS,
    dailyDays: env.USAGE_DAILY_RETENTION_DAYS,
  };
}

/** A USAGE_*RETENTION_DAYS variable: whole days, 0 (keep for good) to 100 years, checked with the other two. */
function RetentionDays(): PropertyDecorator {
  const decorators = [Type(() => Number), IsInt(), Min(0), Max(36_500), IsUsageRetention()];
  return (target: object, propertyName: string | symbol) => {
    for (const decorate of decorators) {
      decorate(target, propertyName);
    }
  };
}

/**
 * The three USAGE_*RETENTION_DAYS together (`usageRetentionProblem`): reported once, on the variable the problem
 * names, so a bad combination reads as one line.
 */
function IsUsageRetention(): PropertyDecorator {
  return (target: object, propertyName: string | symbol) => {
    const variable = String(propertyName);
    const problemOf = (env: object): string | null => {
      const e = env as BaseEnv;
      const r = usageRetentionOf(e);
      if (![r.rawDays, r.hourlyDays, r.dailyDays].every((d) => Number.isInteger(d) && d >= 0)) {
        return null; // @IsInt/@Min name the variable that is not a number of days
      }
      const problem = usageRetentionProblem(r);
      return problem !== null && problem.variable === variable ? problem.message : null;
    };
    registerDecorator({
      name: 'isUsageRetention',
      target: target.constructor,
      propertyName: variable,
      validator: {
        validate: (_value: unknown, args): boolean => args === undefined || problemOf(args.object) === null,
        defaultMessage: (args): string => (args === undefined ? '' : (problemOf(args.object) ?? '')),
      },
    });
  };
}

/** Injection token for the validated env of the running app. */
export const ENV = Symbol('ENV');

/**
 * Puts REDIS_PASSWORD into REDIS_URL when the URL has no password of its own (percent-encoded, as parseRedisUrl reads
 * it back; a user the URL names keeps logging in as that user). A URL with another password than REDIS_PASSWORD is a
 * problem: which of the two the operator rotated last cannot be told, and Redis would refuse one of them. Answers the
 * problem line, or null.
 */
export function withRedisPassword(env: Pick<BaseEnv, 'REDIS_URL' | 'REDIS_PASSWORD'>): string | null {
  const password = env.REDIS_PASSWORD;
  if (password === undefined) {
    return null;
  }
  const own = parseRedisUrl(env.REDIS_URL).password;
  if (own !== undefined) {
    return own === password
      ? null
      : 'REDIS_URL carries a password other than REDIS_PASSWORD: give it in one of them (or the same in both)';
  }
  const url = new URL(env.REDIS_URL);
  url.password = encodeURIComponent(password);
  env.REDIS_URL = url.toString();
  return null;
}
