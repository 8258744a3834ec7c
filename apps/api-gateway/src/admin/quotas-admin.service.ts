import { Inject, Injectable } from '@nestjs/common';
import { ErrorCode, GatewayError, resolveCallerPolicy, type TierTable } from '@aigw/core';
import { QuotaStore, type QuotaPatch, type QuotaRow } from '@aigw/entities';
import { ENV } from '@aigw/platform';
import { AuthChanges } from '../auth/auth-changes';
import { TIERS } from '../auth/tiers.provider';
import type { GatewayEnv } from '../config/gateway-env';
import type { AuthContext } from '../http/request-context';
import { assertKnownTier } from './accounts-admin.service';
import type { UpdateQuotaDto } from './admin.dto';
import { actorOf, quotaView, withCounters, type QuotaUsageView, type QuotaView } from './admin-views';
import { QUOTA_COUNTERS, type QuotaCountersPort } from './quota-counters.port';

const LIMIT_FIELDS = [
  'dailyRequestLimit',
  'monthlyRequestLimit',
  'dailySpendLimitUsd',
  'monthlySpendLimitUsd',
] as const;

/**
 * Users' quotas for admins. Limit changes reach admission on every replica at once (AuthChanges drops the cached
 * lookups of the user's keys; AUTH_CACHE_TTL_MS bounds it should the message be lost); counters come from the
 * QuotaCountersPort.
 */
@Injectable()
export class QuotasAdminService {
  constructor(
    private readonly quotas: QuotaStore,
    @Inject(QUOTA_COUNTERS) private readonly counters: QuotaCountersPort,
    @Inject(TIERS) private readonly tiers: TierTable,
    @Inject(ENV) private readonly env: GatewayEnv,
    private readonly authChanges: AuthChanges,
  ) {}

  async get(userId: string): Promise<QuotaUsageView> {
    const row = this.found(userId, await this.quotas.get(userId));
    return withCounters(this.view(row), await this.counters.read(userId, Date.now()));
  }

  async update(userId: string, dto: UpdateQuotaDto, auth: AuthContext): Promise<QuotaView> {
    const patch: QuotaPatch = {};
    if (dto.tier !== undefined) {
      assertKnownTier(this.tiers, dto.tier);
      patch.tier = dto.tier;
    }
    for (const field of LIMIT_FIELDS) {
      if (dto[field] !== undefined) {
        patch[field] = dto[field];
      }
    }
    if (Object.keys(patch).length === 0) {
      throw new GatewayError(
        ErrorCode.InvalidRequest,
        `Nothing to change: set at least one of tier, ${LIMIT_FIELDS.join(', ')}.`,
      );
    }
    // Before the change is committed: a replica whose cached lookup expires reads the new limits from then on, and
    // the reseed keeps what the counters gained since on top of usage_records (the requests admitted meanwhile).
    const before = await this.counters.snapshot(userId);
    const row = this.found(userId, await this.quotas.update(userId, patch, actorOf(auth)));
    // Before the reseed: requests admitted under the old limits after it would be in no counter.
    this.authChanges.changed(userId);
    await this.counters.reseed(userId, before);
    return this.view(row);
  }

  /** Starts the user's day and month over now: the reset times in PostgreSQL, then the live counters. */
  async reset(userId: string, auth: AuthContext): Promise<QuotaUsageView> {
    const at = new Date();
    this.found(userId, await this.quotas.reset(userId, at, actorOf(auth)));
    await this.counters.reset(userId, at);
    return this.get(userId);
  }

  private found(userId: string, row: QuotaRow | null): QuotaRow {
    if (row === null) {
      throw new GatewayError(ErrorCode.NotFound, `No user with id '${userId}'.`, { param: 'userId' });
    }
    return row;
  }

  private view(row: QuotaRow): QuotaView {
    // The same resolution as admission's, for a key without limits of its own.
    const { limits } = resolveCallerPolicy(
      { expiresAt: null, allowedModels: null, rpm: null, tpm: null },
      row,
      this.tiers,
      { rpm: this.env.RATE_LIMIT_RPM ?? null, tpm: this.env.RATE_LIMIT_TPM ?? null },
    );
    const { keyRpm: _keyRpm, keyTpm: _keyTpm, ...effective } = limits;
    return quotaView(row, effective);
  }
}
