import type { DataSource, EntityManager } from 'typeorm';
import { UserQuotaEntity } from '../entities/user-quota.entity';
import { UserEntity } from '../entities/user.entity';
import { AuditLogStore } from './audit-log.store';
import { UUID } from './keyset';

/** A user's quota row. A null limit defers to the tier (see `resolveCallerPolicy`). */
export interface QuotaRow {
  userId: string;
  tier: string;
  dailyRequestLimit: number | null;
  monthlyRequestLimit: number | null;
  dailySpendLimitUsd: number | null;
  monthlySpendLimitUsd: number | null;
  /** Usage before these no longer counts toward the current day / month (an admin reset). */
  dailyResetAt: Date | null;
  monthlyResetAt: Date | null;
}

/** Fields a PUT may set: absent stays, null clears the user's own limit. */
export type QuotaPatch = Partial<
  Pick<QuotaRow, 'tier' | 'dailyRequestLimit' | 'monthlyRequestLimit' | 'dailySpendLimitUsd' | 'monthlySpendLimitUsd'>
>;

const PATCHABLE: readonly (keyof QuotaPatch)[] = [
  'tier',
  'dailyRequestLimit',
  'monthlyRequestLimit',
  'dailySpendLimitUsd',
  'monthlySpendLimitUsd',
];

function defaultRow(userId: string): QuotaRow {
  return {
    userId,
    tier: 'default',
    dailyRequestLimit: null,
    monthlyRequestLimit: null,
    dailySpendLimitUsd: null,
    monthlySpendLimitUsd: null,
    dailyResetAt: null,
    monthlyResetAt: null,
  };
}

function rowOf(e: UserQuotaEntity): QuotaRow {
  return {
    userId: e.userId,
    tier: e.tier,
    dailyRequestLimit: e.dailyRequestLimit,
    monthlyRequestLimit: e.monthlyRequestLimit,
    dailySpendLimitUsd: e.dailySpendLimitUsd,
    monthlySpendLimitUsd: e.monthlySpendLimitUsd,
    dailyResetAt: e.dailyResetAt,
    monthlyResetAt: e.monthlyResetAt,
  };
}

/** user_quotas: read, changed and reset by admins; every change audited in its own transaction. */
export class QuotaStore {
  constructor(private readonly dataSource: DataSource) {}

  /** The user's quota (the default one when the user has no row yet); null when there is no such user. */
  async get(userId: string): Promise<QuotaRow | null> {
    if (!UUID.test(userId)) {
      return null;
    }
    return this.read(this.dataSource.manager, userId, false);
  }

  /** Applies `patch` (creating the row when missing); null when there is no such user. */
  async update(userId: string, patch: QuotaPatch, actor: string): Promise<QuotaRow | null> {
    return this.change(userId, actor, 'quota.update', (row) => {
      const next = { ...row };
      for (const field of PATCHABLE) {
        if (patch[field] !== undefined) {
          Object.assign(next, { [field]: patch[field] });
        }
      }
      return next;
    });
  }

  /** Starts the day and the month over at `at` for this user's counters; null when there is no such user. */
  async reset(userId: string, at: Date, actor: string): Promise<QuotaRow | null> {
    return this.change(userId, actor, 'quota.reset', (row) => ({ ...row, dailyResetAt: at, monthlyResetAt: at }));
  }

  private async change(
    userId: string,
    actor: string,
    action: string,
    apply: (row: QuotaRow) => QuotaRow,
  ): Promise<QuotaRow | null> {
    if (!UUID.test(userId)) {
      return null;
    }
    return this.dataSource.transaction(async (m) => {
      // Lock the row (or the user, when it has none yet) so concurrent admin changes serialise and audit truthfully.
      const before = await this.read(m, userId, true);
      if (before === null) {
        return null;
      }
      const after = apply(before);
      await m.upsert(UserQuotaEntity, { ...after }, ['userId']);
      const saved = (await this.read(m, userId, false)) ?? after;
      await AuditLogStore.write(m, { actor, action, target: userId, before, after: saved });
      return saved;
    });
  }

  private async read(m: EntityManager, userId: string, lock: boolean): Promise<QuotaRow | null> {
    const user = await m
      .getRepository(UserEntity)
      .findOne({ where: { id: userId }, ...(lock ? { lock: { mode: 'pessimistic_write' as const } } : {}) });
    if (user === null) {
      return null;
    }
    const row = await m.getRepository(UserQuotaEntity).findOne({ where: { userId } });
    return row === null ? defaultRow(userId) : rowOf(row);
  }
}
