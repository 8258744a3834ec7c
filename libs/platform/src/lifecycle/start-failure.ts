import { ConfigurationError } from '@aigw/core';
import { isLoginRefusal, isRedisUnreachable } from '../redis/redis-unreachable';

/**
 * A start failure whose message says all an operator needs: what is wrong, naming the variable to fix (PostgreSQL
 * unreachable, a schema not migrated). Reported as that one line, without a stack; its cause is kept for a debugger.
 */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}

/**
 * What a process that failed to start prints: a StartupError or a ConfigurationError (a catalog or tiers file,
 * SECRETS_KEY, a plugin module: what the operator must fix) as its message alone (with the stack of a plugin's own
 * code that threw); otherwise the error and every cause under it (the reason is often the cause: a
 * provider key that SECRETS_KEY cannot read), a hint naming the variable when Redis could not be reached (ioredis
 * says only "Connection is closed."), then the stack. Never a URL's credentials.
 */
export function startFailureReport(appName: string, err: unknown, env: NodeJS.ProcessEnv = process.env): string {
  if (err instanceof StartupError || err instanceof ConfigurationError) {
    const line = `failed to start: ${configurationReasons(err).join(': ')}`;
    // A plugin's own code that threw: where in it (the operator's code, so the stack is theirs to read).
    const own = err instanceof ConfigurationError && err.ownCodeFailed ? (err.cause as Error).stack : undefined;
    if (env.LOG_FORMAT === 'json') {
      return `${jsonLine(appName, line, own)}\n`;
    }
    return `[${appName}] ${line}\n${own === undefined ? '' : `${own}\n`}`;
  }
  const reasons: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    reasons.push(e instanceof Error ? e.message : typeof e === 'string' ? e : JSON.stringify(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  const lines = [`failed to start: ${reasons.join(': ')}`];
  if (isRedisUnreachable(err)) {
    lines.push(
      `Redis at ${whereIs(env.REDIS_URL ?? 'redis://127.0.0.1:6379', '6379')} cannot be reached: check REDIS_URL and that Redis is up`,
    );
  }
  if (isLoginRefusal(err)) {
    lines.push(
      `Redis at ${whereIs(env.REDIS_URL ?? 'redis://127.0.0.1:6379', '6379')} refused the login: check the user and ` +
        "password in REDIS_URL (redis://user:password@host:port/db; a password alone logs in as Redis's default user)",
    );
  }
  const stack = err instanceof Error ? err.stack : undefined;
  if (env.LOG_FORMAT === 'json') {
    // One line per message in the shape of the apps' JSON logs, so a log pipeline keeps the reason of a failed boot.
    return lines.map((message, i) => `${jsonLine(appName, message, i === 0 ? stack : undefined)}\n`).join('');
  }
  return lines.map((line) => `[${appName}] ${line}\n`).join('') + (stack === undefined ? '' : `${stack}\n`);
}

/**
 * The messages of a StartupError, or of a ConfigurationError and the ConfigurationErrors under it (`cannot read the
 * API key of provider 'x'` over `SECRETS_KEY differs from the key ...`). A cause of another kind (the `ENOENT` of a
 * catalog file, the YAML parser's error with its snippet, `require`'s stack of a plugin) is left out: the message
 * above it already says what it means.
 */
function configurationReasons(err: Error): string[] {
  const reasons = [err.message];
  for (let e = err.cause, depth = 0; e instanceof ConfigurationError && depth < 5; e = e.cause, depth++) {
    reasons.push(e.message);
  }
  return reasons;
}

/** A line of Nest's JSON log format (ConsoleLogger with `json: true`), at level `fatal` unless told. */
export function jsonLine(appName: string, message: string, stack?: string, level: 'fatal' | 'warn' = 'fatal'): string {
  const line: Record<string, unknown> = {
    level,
    pid: process.pid,
    timestamp: Date.now(),
    message,
    context: appName,
  };
  if (stack !== undefined) {
    line.stack = stack;
  }
  return JSON.stringify(line);
}

/** host:port of a URL (its path too with `withPath`, a database's name), never its credentials. */
export function whereIs(url: string | undefined, defaultPort: string, withPath = false): string {
  try {
    const u = new URL(url ?? '');
    return `${u.hostname}:${u.port === '' ? defaultPort : u.port}${withPath ? u.pathname : ''}`;
  } catch {
    return 'the configured address';
  }
}

/** The `catch` of every app's `main()`. */
export function exitOnStartFailure(appName: string): (err: unknown) => never {
  return (err) => {
    process.stderr.write(startFailureReport(appName, err));
    process.exit(1);
  };
}
