import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { ErrorCode, GatewayError, resolveCallerPolicy, type RateLimitDefaults, type TierTable } from '@aigw/core';
import { ApiKeyStore, databaseUnavailable, type ActiveApiKey } from '@aigw/entities';
import { describeError, ENV } from '@aigw/platform';
import { GatewayEnv } from '../config/gateway-env';
import type { AuthContext } from '../http/request-context';
import { ApiKeyCache } from './api-key-cache';
import { TIERS } from './tiers.provider';

const NEGATIVE_TTL_MS = 1_000;
const MAX_CACHED_KEYS = 10_000;
/**
 * A key looked up before is answered from that lookup when PostgreSQL takes longer than this (a key lookup takes
 * milliseconds): during a half-open network every request used to wait for the pool's timeouts (10 to 30 s).
 */
const STALE_KEY_AFTER_MS = 1_000;
/** `last_used_at` is informational: batching it keeps a database write off every request. */
const TOUCH_EVERY_MS = 5_000;

/**
 * Resolves API keys to callers. Lookups are cached in process (see ApiKeyCache) so the request path
 * does no database query; `last_used_at` updates are batched off the hot path.
 */
@Injectable()
export class ApiKeyAuthenticator implements OnModuleInit, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger(ApiKeyAuthenticator.name);
  private readonly cache: ApiKeyCache<AuthContext>;
  /** Keys used since the last flush, with the time of their last use (epoch ms). */
  private touched = new Map<string, number>();
  private timer?: NodeJS.Timeout;
  /** Whether the last write of `touched` failed: logged once per outage, not at every flush. */
  private touchFailing = false;
  private readonly rateDefaults: RateLimitDefaults;
  /** The key-use write in progress, if any (see flushTouches). */
  private flushing: Promise<void> | null = null;

  constructor(
    @Inject(ENV) private readonly env: GatewayEnv,
    private readonly store: ApiKeyStore,
    @Inject(TIERS) private readonly tiers: TierTable,
  ) {
    this.rateDefaults = { rpm: env.RATE_LIMIT_RPM ?? null, tpm: env.RATE_LIMIT_TPM ?? null };
    this.cache = new ApiKeyCache((key) => this.lookup(key), {
      ttlMs: env.AUTH_CACHE_TTL_MS,
      negativeTtlMs: NEGATIVE_TTL_MS,
      maxEntries: MAX_CACHED_KEYS,
      staleAfterMs: STALE_KEY_AFTER_MS,
    });
  }

  async onModuleInit(): Promise<void> {
    if (this.env.BOOTSTRAP_ADMIN_KEY) {
      const key = await this.store.ensureBootstrapKey(this.env.BOOTSTRAP_ADMIN_KEY);
      if (key.revoked) {
        this.logger.warn('BOOTSTRAP_ADMIN_KEY names a key that was revoked: it stays revoked.');
      }
    }
    this.timer = setInterval(() => void this.flushTouches(), TOUCH_EVERY_MS);
    this.timer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    // A write still running took its batch: wait for it, then write the uses recorded since.
    await this.flushing;
    await this.flushTouches();
    if (this.touched.size > 0) {
      this.logger.warn(`key usage not recorded at shutdown (${this.touched.size} keys): their last use stays older`);
    }
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /**
   * The caller behind `key`, or null when the key is unknown or revoked. Synchronous on a cache hit. An expired
   * key is returned too (its policy says so): the guard answers it with key_expired.
   */
  authenticate(key: string): AuthContext | null | Promise<AuthContext | null> {
    const found = this.cache.resolve(key);
    if (found instanceof Promise) {
      return found.catch((err: unknown) => {
        throw new GatewayError(ErrorCode.ServiceUnavailable, 'API keys cannot be checked right now; retry shortly.', {
          retryAfterMs: 1_000,
          cause: err,
        });
      });
    }
    return found;
  }

  /**
   * A key of `userId` was revoked, or the user's limits or preferences changed: the next request with any of their keys
   * reads them again (an `auth.changed` message, from this replica or another).
   */
  forgetUser(userId: string): void {
    this.cache.forget((auth) => auth.userId === userId);
  }

  /**
   * A key accepted at `now` (after its expiry check: a refused key is no use): its `lastUsedAt`, written in batches
   * every TOUCH_EVERY_MS.
   */
  used(auth: AuthContext, now: number): void {
    this.touched.set(auth.apiKeyId, now);
  }

  private async lookup(key: string): Promise<AuthContext | null> {
    const row = await this.store.findActiveByKey(key);
    return row === null ? null : this.contextOf(row);
  }

  /** Resolved once per lookup and cached with the key: the request path reads limits, never the database. */
  private contextOf(row: ActiveApiKey): AuthContext {
    const policy = resolveCallerPolicy(
      {
        expiresAt: row.expiresAt === null ? null : row.expiresAt.getTime(),
        allowedModels: row.allowedModels,
        rpm: row.rpm,
        tpm: row.tpm,
      },
      row.quota,
      this.tiers,
      this.rateDefaults,
    );
    return {
      userId: row.userId,
      apiKeyId: row.id,
      keyPrefix: row.prefix,
      role: row.role,
      policy,
      preferences: row.preferences,
    };
  }

  /**
   * Writes the uses recorded since the last flush (every TOUCH_EVERY_MS, and at shutdown). One at a time: a write
   * that hangs (a half-open network, up to the pool's read timeout) is not joined by the next tick's.
   */
  flushTouches(): Promise<void> {
    this.flushing ??= this.writeTouches().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async writeTouches(): Promise<void> {
    if (this.touched.size === 0) {
      return;
    }
    const batch = this.touched;
    this.touched = new Map();
    try {
      await this.store.touchLastUsed(new Map([...batch].map(([id, at]) => [id, new Date(at)])));
      if (this.touchFailing) {
        this.touchFailing = false;
        // A warning, as the line of the failure it ends: LOG_LEVEL=warn showed the failure and hid its end.
        this.logger.warn(`key usage recorded again (${batch.size} keys)`);
      }
    } catch (err) {
      if (!databaseUnavailable(err)) {
        // Not an outage (a permission, a schema out of step): the same batch would fail again, every time.
        this.logger.warn(`could not record key usage (${batch.size} keys), dropped: ${describeError(err)}`);
        return;
      }
      // Kept for the next flush (PostgreSQL down): a key used only during an outage would otherwise keep an older
      // last use. A use made since this batch was taken is the later one. Bounded by the keys in use.
      for (const [id, at] of batch) {
        if (!this.touched.has(id)) {
          this.touched.set(id, at);
        }
      }
      if (!this.touchFailing) {
        this.touchFailing = true;
        this.logger.warn(`could not record key usage (${batch.size} keys), will retry: ${describeError(err)}`);
      }
    }
  }
}
