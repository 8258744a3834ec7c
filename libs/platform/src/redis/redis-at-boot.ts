import { parseRedisUrl } from '@aigw/core';
import { Redis } from 'ioredis';
import { StartupError, whereIs } from '../lifecycle/start-failure';
import { isLoginRefusal } from './redis-unreachable';

/** A Redis starting alongside the apps (a cluster's first rollout, k8s/redis.yaml) gets as long as PostgreSQL: 4 × 2 s. */
const CONNECT_ATTEMPTS = 5;
const CONNECT_RETRY_MS = 2000;
/** One attempt's bound: a host that drops the SYN (a firewall, a Service without endpoints) answers nothing. */
const ATTEMPT_TIMEOUT_MS = 2000;

/**
 * Waits at boot, before anything connects, until the Redis of `url` answers a PING: one warning per attempt, then a
 * StartupError naming `variable`, as PostgreSQL is waited for. An app started while its Redis was not up yet exited
 * at once (Nest's Redis transport rejects its first connection, "Connection is closed."), and a pod then went through
 * its crash loop's back-off although Redis was back seconds later. A Redis that refuses the login (WRONGPASS, NOAUTH)
 * stops the start at once, in one line naming `variable`: left to the app's own connections, the refusal came out as
 * "Connection is closed." (or the ReplyError) with stacks, as each connection gave up in its own way. Another refusal
 * (a database index) is not waited for: the app's own connections stop the start naming it.
 */
export async function waitForRedis(
  url: string,
  warn: (message: string) => void,
  variable = 'REDIS_URL',
  retryMs = CONNECT_RETRY_MS,
): Promise<void> {
  const where = whereIs(url, '6379');
  for (let attempt = 1; ; attempt++) {
    const reason = await unreachableReason(url, () => {
      throw refusedLogin(url, variable);
    });
    if (reason === null) {
      return;
    }
    if (attempt === CONNECT_ATTEMPTS) {
      throw new StartupError(`Redis at ${where} cannot be reached (${reason}): check ${variable} and that Redis is up`);
    }
    warn(`Redis at ${where} cannot be reached (${reason}); trying again in ${retryMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, retryMs));
  }
}

/**
 * At boot, before anything connects: the response cache's Redis of its own (CACHE_REDIS_URL) refusing the login stops
 * the start in the one line naming the variable that REDIS_URL's refusal gets (waitForRedis). Left to the cache's
 * connection, the refusal was a warning ("Redis unavailable (connection: ReplyError: WRONGPASS ...)") naming no
 * variable, and the app served without its cache for good: a wrong password does not heal by waiting. One attempt,
 * and an unreachable cache Redis does not stop the start: the cache is optional (requests go without it), and its
 * connection reports the outage and reconnects.
 */
export async function refuseBadRedisLogin(url: string, variable: string): Promise<void> {
  await unreachableReason(url, () => {
    throw refusedLogin(url, variable);
  });
}

function refusedLogin(url: string, variable: string): StartupError {
  return new StartupError(
    `Redis at ${whereIs(url, '6379')} refused the login: check the user and password in ${variable} ` +
      "(redis://user:password@host:port/db; a password alone logs in as Redis's default user)",
  );
}

/**
 * Why one PING did not reach the Redis of `url`, or null when it answered (a refusal too: see waitForRedis); calls
 * `refusedLogin` (which throws) when Redis refused the URL's credentials.
 */
async function unreachableReason(url: string, refusedLogin: () => never): Promise<string | null> {
  const probe = new Redis({
    ...parseRedisUrl(url),
    lazyConnect: true,
    enableReadyCheck: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: ATTEMPT_TIMEOUT_MS,
    commandTimeout: ATTEMPT_TIMEOUT_MS,
  });
  // Without a listener an ioredis error event would crash the process. It also says why (`connect ECONNREFUSED
  // host:port`), where the rejection of connect() says only "Connection is closed.".
  let networkError: Error | undefined;
  probe.on('error', (err: Error) => (networkError = err));
  try {
    await probe.connect();
    await probe.ping();
    return null;
  } catch (err) {
    const cause = networkError ?? (err instanceof Error ? err : new Error('no answer'));
    // A Redis reply (to the PING, or to the AUTH or SELECT of connecting): the server is there. LOADING (replaying
    // its AOF after a restart) is not ready yet.
    if (cause.name === 'ReplyError') {
      if (isLoginRefusal(cause)) {
        refusedLogin();
      }
      return /^LOADING\b/.test(cause.message) ? 'loading its data' : null;
    }
    // ioredis's and Node's network messages name an address and a code, never the URL's credentials.
    return cause.message;
  } finally {
    probe.disconnect();
  }
}
