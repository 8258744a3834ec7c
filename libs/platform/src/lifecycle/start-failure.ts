import { isRedisUnreachable } from '../redis/redis-unreachable';

/**
 * A start failure whose message says all an operator needs: what is wrong, naming the variable to fix (PostgreSQL
 * unreachable, a schema not migrated). Reported as that one line, without a stack; its cause is kept for a debugger.
 */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}

/**
 * What a process that failed to start prints: the error and every cause under it (the reason is often the cause: a
 * provider key that SECRETS_KEY cannot read), a hint naming the variable when Redis could not be reached (ioredis
 * says only "Connection is closed."), then the stack. Never a URL's credentials.
 */
export function startFailureReport(appName: string, err: unknown, env: NodeJS.ProcessEnv = process.env): string {
  if (err instanceof StartupError) {
    const line = `failed to start: ${err.message}`;
    return env.LOG_FORMAT === 'json' ? `${jsonLine(appName, line)}\n` : `[${appName}] ${line}\n`;
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
  const stack = err instanceof Error ? err.stack : undefined;
  if (env.LOG_FORMAT === 'json') {
    // One line per message in the shape of the apps' JSON logs, so a log pipeline keeps the reason of a failed boot.
    return lines.map((message, i) => `${jsonLine(appName, message, i === 0 ? stack : undefined)}\n`).join('');
  }
  return lines.map((line) => `[${appName}] ${line}\n`).join('') + (stack === undefined ? '' : `${stack}\n`);
}

/** A line of Nest's JSON log format (ConsoleLogger with `json: true`) at level `fatal`. */
export function jsonLine(appName: string, message: string, stack?: string): string {
  const line: Record<string, unknown> = {
    level: 'fatal',
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
