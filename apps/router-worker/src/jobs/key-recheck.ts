import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  invalidApiKeyError,
  isExpired,
  keyExpiredError,
  setBounded,
  type GatewayError,
  type GenerationRequest,
} from '@aigw/core';
import { ApiKeyStore, type ApiKeyStanding } from '@aigw/entities';
import { ENV, MigratedDatabase } from '@aigw/platform';
import type { WorkerEnv } from '../config/worker-env';
import { FallibleRead } from '../routing/fallible-read';

/** A key read is trusted this long: a backlog of one key's jobs costs one query per second per worker. */
const STANDING_CACHE_MS = 1_000;
const CACHE_MAX_KEYS = 10_000;
/**
 * A synchronous job is checked only past this wait, whatever KEY_RECHECK_AFTER_MS: its admission time is the gateway's
 * clock and `now` the worker's, and a worker's clock a second or two ahead of the gateways' must not turn every
 * request into a PostgreSQL read. Its client is still waiting, and its deadline bounds it.
 */
const SYNC_RECHECK_AFTER_MS = 30_000;

/** Not known: PostgreSQL failed or was slow. The job runs as admitted. */
const UNKNOWN = 'unknown';
type Standing = ApiKeyStanding | null | typeof UNKNOWN;

interface Cached {
  expiresAt: number;
  standing: Promise<Standing>;
}

/**
 * Checks a job's API key again before the job runs, when it waited in the queue since its admission: an async job can
 * wait for hours, and its key be revoked (or expire, or its user be deleted) meanwhile. Such a job ends with the 401
 * the gateway answers that key with now, before any provider call; its reservation is then settled as any failure's
 * (nothing spent: all given back).
 *
 * Costs nothing on the hot path: an async job taken within KEY_RECHECK_AFTER_MS of its admission, or a synchronous one
 * within SYNC_RECHECK_AFTER_MS, is not checked, as a request already running when its key is revoked is not stopped
 * either. The
 * check reads PostgreSQL, where revocations are made (the admin API and `npm run keys -- revoke` alike), not Redis.
 * PostgreSQL slow or down never fails a job: it runs as admitted (generation goes on without PostgreSQL).
 */
@Injectable()
export class KeyRecheck {
  private readonly logger = new Logger(KeyRecheck.name);
  /** PostgreSQL slow or down: the job runs as admitted. */
  private readonly reads = new FallibleRead(
    this.logger,
    'API keys of queued jobs not checked again, running them as admitted',
  );
  private readonly store: ApiKeyStore;
  private readonly afterMs: number;
  private readonly cache = new Map<string, Cached>();

  constructor(db: MigratedDatabase, @Inject(ENV) env: WorkerEnv) {
    this.store = new ApiKeyStore(db.dataSource);
    this.afterMs = env.KEY_RECHECK_AFTER_MS;
  }

  /**
   * The 401 that refuses the job's key at `now`, or null to run the job. An async job (`sync` false) is checked once
   * it waited KEY_RECHECK_AFTER_MS, a synchronous one only past SYNC_RECHECK_AFTER_MS. A job with a `coalescingKey` is
   * not checked: other callers' requests may wait on it, which the leader's key says nothing about; it is a
   * synchronous request, bounded by its deadline.
   */
  async refusal(
    request: GenerationRequest,
    sync: boolean,
    coalesced: boolean,
    now: number,
  ): Promise<GatewayError | null> {
    const afterMs = sync ? Math.max(this.afterMs, SYNC_RECHECK_AFTER_MS) : this.afterMs;
    if (coalesced || now - request.receivedAt < afterMs) {
      return null;
    }
    const standing = await this.standingOf(request.apiKeyId, now);
    if (standing === UNKNOWN) {
      return null;
    }
    // As the gateway's guard answers such a key (ApiKeyGuard).
    if (standing === null || standing.revoked) {
      return invalidApiKeyError();
    }
    if (isExpired({ expiresAt: standing.expiresAt?.getTime() ?? null }, now)) {
      return keyExpiredError();
    }
    return null;
  }

  private standingOf(keyId: string, now: number): Promise<Standing> {
    const hit = this.cache.get(keyId);
    if (hit !== undefined && hit.expiresAt > now) {
      return hit.standing;
    }
    const standing = this.read(keyId);
    setBounded(this.cache, keyId, { expiresAt: now + STANDING_CACHE_MS, standing }, CACHE_MAX_KEYS);
    return standing;
  }

  private read(keyId: string): Promise<Standing> {
    return this.reads.run<Standing>(() => this.store.standingOf(keyId), UNKNOWN);
  }
}
