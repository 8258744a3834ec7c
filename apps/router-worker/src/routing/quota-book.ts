import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { QuotaSnapshot, Route } from '@aigw/core';
import { quotaFromResponse, type ResponseHeaders, type ResponseObserver } from '@aigw/adapters';
import { REDIS, RedisErrors, RedisKeys } from '@aigw/platform';
import { ProviderQuotaStore, type QuotaEntry } from '@aigw/routing';
import type { Redis } from 'ioredis';
import { SerialWrites } from './flush-schedule';
import { WarnThrottle } from './warn-throttle';

/** How often changed snapshots are written: the admin list lags the providers' headers by about this much. */
export const QUOTA_FLUSH_MS = 1_000;

/** Where provider calls report the responses they get. */
export interface QuotaObservers {
  /** The observer of calls to `providerId` over `route` (one per pair, made once). */
  observer(providerId: string, route: Route): ResponseObserver;
}

/** What this worker last saw of one provider on one route. */
export interface QuotaSlot {
  readonly providerId: string;
  readonly route: Route;
  snapshot: QuotaSnapshot | null;
  /** Changed since the last successful flush. */
  dirty: boolean;
}

interface Slot extends QuotaSlot {
  /** Handed to every call of this provider over this route. */
  readonly observe: ResponseObserver;
}

/**
 * Providers' rate limits as their response headers report them (see `quotaFromResponse`), per provider and route.
 * Observing a response costs the request path a header parse and a field write, no Redis round trip: a timer
 * writes the snapshots that changed at most once a second (one MULTI of HSET + PEXPIRE), and once more at
 * shutdown. A failed write keeps them for the next flush; nothing here ever throws into a call.
 */
@Injectable()
export class ProviderQuotaBook implements QuotaObservers, OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(ProviderQuotaBook.name);
  private readonly warnings = new WarnThrottle(this.logger);
  private readonly store: ProviderQuotaStore;
  private readonly slotsByProvider = new Map<string, Partial<Record<Route, Slot>>>();
  private changed = false;
  /** The providers of the catalog in force (`retainProviders`); null until the first reload: all are observed. */
  private known: ReadonlySet<string> | null = null;
  private timer?: NodeJS.Timeout;
  private readonly writes = new SerialWrites(() => this.write());

  constructor(
    @Inject(REDIS) redis: Redis,
    keys: RedisKeys,
    private readonly errors: RedisErrors,
  ) {
    this.store = new ProviderQuotaStore(redis, keys.prefix);
  }

  onModuleInit(): void {
    this.timer = setInterval(() => void this.flush(), QUOTA_FLUSH_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  observer(providerId: string, route: Route): ResponseObserver {
    return this.slotOf(providerId, route).observe;
  }

  /** Every provider and route seen with rate limits, for the metrics. */
  *snapshots(): Iterable<QuotaSlot & { snapshot: QuotaSnapshot }> {
    for (const routes of this.slotsByProvider.values()) {
      for (const slot of Object.values(routes)) {
        if (slot.snapshot !== null) {
          yield slot as QuotaSlot & { snapshot: QuotaSnapshot };
        }
      }
    }
  }

  /**
   * Drops what was seen of providers no longer in the catalog: a provider re-created with the same id starts with
   * no snapshot (none shown in the metrics, none merged into its first), and nothing of the old one is written back,
   * not even from a call that ends after this.
   */
  retainProviders(providerIds: ReadonlySet<string>): void {
    this.known = providerIds;
    for (const id of this.slotsByProvider.keys()) {
      if (!providerIds.has(id)) {
        this.slotsByProvider.delete(id);
      }
    }
  }

  /** Writes the snapshots changed so far (also at shutdown, before Redis closes); resolves once they are written. */
  flush(): Promise<void> {
    return this.writes.run();
  }

  private observe(slot: QuotaSlot, status: number, headers: ResponseHeaders): void {
    if (this.known !== null && !this.known.has(slot.providerId)) {
      return;
    }
    try {
      const snapshot = quotaFromResponse(status, headers, Date.now(), slot.snapshot ?? undefined);
      if (snapshot !== null) {
        slot.snapshot = snapshot;
        slot.dirty = true;
        this.changed = true;
      }
    } catch (err) {
      // The parser is total; this guards the provider call against a bug in it, not against providers.
      this.warnings.warn('provider rate-limit headers not read', err);
    }
  }

  private slotOf(providerId: string, route: Route): Slot {
    let routes = this.slotsByProvider.get(providerId);
    if (routes === undefined) {
      routes = {};
      this.slotsByProvider.set(providerId, routes);
    }
    let slot = routes[route];
    if (slot === undefined) {
      const created: Slot = {
        providerId,
        route,
        snapshot: null,
        dirty: false,
        observe: (status, headers) => this.observe(created, status, headers),
      };
      slot = routes[route] = created;
    }
    return slot;
  }

  private async write(): Promise<void> {
    if (!this.changed) {
      return;
    }
    this.changed = false;
    const batch: QuotaSlot[] = [];
    const entries: QuotaEntry[] = [];
    for (const slot of this.snapshots()) {
      if (slot.dirty) {
        slot.dirty = false;
        batch.push(slot);
        entries.push({ providerId: slot.providerId, route: slot.route, snapshot: slot.snapshot });
      }
    }
    try {
      await this.store.write(entries);
    } catch (err) {
      // Written by the next flush, with whatever newer snapshot arrives meanwhile.
      for (const slot of batch) {
        slot.dirty = true;
      }
      this.changed = true;
      this.errors.report('provider_quota', err);
    }
  }
}
