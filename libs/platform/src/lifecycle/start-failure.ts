/**
 * What a process that failed to start prints: the error and every cause under it (the reason is often the cause: a
 * provider key that SECRETS_KEY cannot read), a hint naming the variable when Redis could not be reached (ioredis
 * says only "Connection is closed."), then the stack. Never a URL's credentials.
 */
export function startFailureReport(appName: string, err: unknown, env: NodeJS.ProcessEnv = process.env): string {
  const reasons: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    reasons.push(e instanceof Error ? e.message : typeof e === 'string' ? e : JSON.stringify(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  let report = `[${appName}] failed to start: ${reasons.join(': ')}\n`;
  if (isRedisUnreachable(err)) {
    report += `[${appName}] Redis at ${whereIs(env.REDIS_URL ?? 'redis://127.0.0.1:6379')} cannot be reached: check REDIS_URL and that Redis is up\n`;
  }
  if (err instanceof Error && err.stack !== undefined) {
    report += `${err.stack}\n`;
  }
  return report;
}

function isRedisUnreachable(err: unknown): boolean {
  if (!(err instanceof Error)) {
    return false;
  }
  const code = (err as { code?: unknown }).code;
  return (
    (err.message === 'Connection is closed.' || code === 'ECONNREFUSED' || code === 'ENOTFOUND') &&
    (err.stack ?? '').includes('ioredis')
  );
}

/** host:port of a URL, nothing else of it. */
function whereIs(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port === '' ? '6379' : u.port}`;
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
