/**
 * ioredis's ways of saying the server is out of reach: a command that ran out of reconnection attempts, one sent on
 * a closed connection or with the offline queue off, one past its timeout, a connection refused or a host not found.
 * Only ioredis's own errors (its stack): the same codes from PostgreSQL's driver are the database's.
 */
export function isRedisUnreachable(err: unknown): boolean {
  if (!(err instanceof Error)) {
    return false;
  }
  if (err.name === 'MaxRetriesPerRequestError') {
    return true;
  }
  const code = (err as { code?: unknown }).code;
  return (
    (REDIS_DOWN_MESSAGE.test(err.message) || code === 'ECONNREFUSED' || code === 'ENOTFOUND') &&
    (err.stack ?? '').includes('ioredis')
  );
}

const REDIS_DOWN_MESSAGE = /^(?:Connection is closed\.|Command timed out|Stream isn't writeable)/;

/**
 * Redis's replies to a connection whose credentials it does not accept: AUTH's `WRONGPASS` (a wrong password, or an
 * ACL user that does not exist or is off), and `NOAUTH` to every later command.
 */
export function isLoginRefusal(err: unknown): boolean {
  return err instanceof Error && /^(?:WRONGPASS|NOAUTH)\b/.test(err.message);
}
