import { randomBytes } from 'node:crypto';
import { sha256Hex } from '@aigw/core';
import { IsNull, type DataSource, type EntityManager } from 'typeorm';
import { ApiKeyEntity, type ApiKeyRole } from '../entities/api-key.entity';
import { UserPreferenceEntity } from '../entities/user-preference.entity';
import { UserQuotaEntity } from '../entities/user-quota.entity';
import { UserEntity } from '../entities/user.entity';
import { tableRef } from '../table-ref';
import { AuditLogStore } from './audit-log.store';
import { keysetAtSql, keysetOrderSql, keysetPage, UUID, type KeysetPage, type KeysetQuery } from './keyset';

export const API_KEY_PREFIX = 'sk-aigw-';

/** A key's restrictions and own limits; absent or null: none (the tier and defaults apply). */
export interface ApiKeyGovernance {
  expiresAt?: Date | null;
  /** Model names, `provider/model` or `provider/*`. */
  allowedModels?: string[] | null;
  rpm?: number | null;
  tpm?: number | null;
}

export interface CreatedApiKey {
  /** The plaintext key: returned here once, stored nowhere. */
  key: string;
  id: string;
  prefix: string;
  userId: string;
  role: ApiKeyRole;
  /** The stored key without its secret (also what the audit log records). */
  info: ApiKeyInfo;
}

/** What authentication needs to know about a presented key: the key, its governance and its user's quota row. */
export interface ActiveApiKey {
  id: string;
  userId: string;
  userName: string;
  role: ApiKeyRole;
  prefix: string;
  expiresAt: Date | null;
  allowedModels: string[] | null;
  rpm: number | null;
  tpm: number | null;
  /**
   * The user's model preferences as one string (`context=provider/model|policy`, by context), null without any: what
   * the `preference` policy routes by, so part of the response cache key of the requests it may route.
   */
  preferences: string | null;
  /** The user's quota row; null when the user has none (the `default` tier then applies). */
  quota: {
    tier: string;
    dailyRequestLimit: number | null;
    monthlyRequestLimit: number | null;
    dailySpendLimitUsd: number | null;
    monthlySpendLimitUsd: number | null;
  } | null;
}

/** What decides whether a key may still be used (see ApiKeyStore.standingOf). */
export interface ApiKeyStanding {
  revoked: boolean;
  expiresAt: Date | null;
}

/** A key as listings show it: never the key, never its hash. */
export interface ApiKeyInfo {
  id: string;
  prefix: string;
  name: string | null;
  role: ApiKeyRole;
  userId: string;
  userName: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  expiresAt: Date | null;
  allowedModels: string[] | null;
  rpm: number | null;
  tpm: number | null;
}

interface ActiveKeyRow {
  id: string;
  userId: string;
  userName: string;
  role: ApiKeyRole;
  prefix: string;
  expiresAt: Date | null;
  allowedModels: string[] | null;
  rpm: number | null;
  tpm: number | null;
  tier: string | null;
  dailyRequestLimit: number | null;
  monthlyRequestLimit: number | null;
  dailySpendLimitUsd: string | null;
  monthlySpendLimitUsd: string | null;
  preferences: string | null;
}

function numericOrNull(v: string | null): number | null {
  return v === null ? null : Number(v);
}

export interface BootstrapKeyResult {
  id: string;
  userId: string;
  /** False when the key already existed. */
  created: boolean;
  /** True when an operator revoked it: it stays revoked (the caller should warn). */
  revoked: boolean;
}

/** The longest prefix keyPrefixOf gives. */
const MAX_PREFIX_LENGTH = 16;

/**
 * Whether `target` (what an operator names a key by) can only be a whole key: longer than any prefix, and not an id.
 * Such a text is a secret: it is matched by its hash and never shown back.
 */
export function isWholeKey(target: string): boolean {
  return target.length > MAX_PREFIX_LENGTH && !UUID.test(target);
}

export class AmbiguousKeyPrefixError extends Error {
  constructor(prefix: string, matches: number) {
    super(`prefix '${prefix}' matches ${matches} keys: revoke by id instead`);
    this.name = 'AmbiguousKeyPrefixError';
  }
}

/**
 * Enough characters to tell keys apart in a listing, and never more than a third of the key
 * (an operator-chosen bootstrap key may be short).
 */
export function keyPrefixOf(key: string): string {
  return key.slice(0, Math.min(MAX_PREFIX_LENGTH, Math.floor(key.length / 3)));
}

export class ApiKeyStore {
  constructor(private readonly dataSource: DataSource) {}

  /** A key for the user named `userName` (created when new): the CLI's way. */
  async create(
    input: { userName: string; role: ApiKeyRole; name?: string } & ApiKeyGovernance,
    actor?: string,
  ): Promise<CreatedApiKey> {
    // The user (audited as `user.create` when new) and the key in one transaction: a key that fails leaves no user.
    return this.insert(input, (m) => this.ensureUser(m, input.userName, actor), actor);
  }

  /**
   * A key for an existing user (the admin API's way), audited as `actor` in the same transaction; null when
   * there is no such user.
   */
  async createForUser(
    input: { userId: string; role: ApiKeyRole; name?: string | null } & ApiKeyGovernance,
    actor?: string,
  ): Promise<CreatedApiKey | null> {
    if (!UUID.test(input.userId) || !(await this.dataSource.getRepository(UserEntity).existsBy({ id: input.userId }))) {
      return null;
    }
    return this.insert(input, () => Promise.resolve(input.userId), actor);
  }

  private async insert(
    input: { role: ApiKeyRole; name?: string | null } & ApiKeyGovernance,
    userOf: (m: EntityManager) => Promise<string>,
    actor: string | undefined,
  ): Promise<CreatedApiKey> {
    const key = API_KEY_PREFIX + randomBytes(32).toString('base64url');
    const prefix = keyPrefixOf(key);
    return this.dataSource.transaction(async (m) => {
      const userId = await userOf(m);
      const row = await m.getRepository(ApiKeyEntity).save({
        userId,
        role: input.role,
        keyHash: sha256Hex(key),
        prefix,
        name: input.name ?? null,
        expiresAt: input.expiresAt ?? null,
        allowedModels: input.allowedModels ?? null,
        rpm: input.rpm ?? null,
        tpm: input.tpm ?? null,
      });
      const saved = await m
        .getRepository(ApiKeyEntity)
        .findOneOrFail({ where: { id: row.id }, relations: { user: true } });
      const info = this.info(saved);
      if (actor !== undefined) {
        await AuditLogStore.write(m, { actor, action: 'key.create', target: row.id, before: null, after: info });
      }
      return { key, id: row.id, prefix, userId, role: input.role, info };
    });
  }

  /**
   * The hot-path lookup (cached by the caller): by hash, through a unique index, with the key's governance and
   * its user's quota row in the same query; writes nothing (see touchLastUsed). Expired keys are returned:
   * the caller tells them apart (401 key_expired rather than invalid_api_key).
   */
  async findActiveByKey(key: string): Promise<ActiveApiKey | null> {
    const rows = await this.dataSource.query<ActiveKeyRow[]>(
      `SELECT k.id, k.user_id AS "userId", u.name AS "userName", k.role, k.prefix, k.expires_at AS "expiresAt",
              k.allowed_models AS "allowedModels", k.rpm, k.tpm, q.tier,
              q.daily_request_limit AS "dailyRequestLimit", q.monthly_request_limit AS "monthlyRequestLimit",
              q.daily_spend_limit_usd AS "dailySpendLimitUsd", q.monthly_spend_limit_usd AS "monthlySpendLimitUsd",
              (SELECT string_agg(p.context || '=' || coalesce(p.provider, '') || '/' || p.model || '|' ||
                                 coalesce(p.policy, ''), ',' ORDER BY p.context)
                 FROM ${tableRef(this.dataSource, UserPreferenceEntity)} p
                WHERE p.user_id = k.user_id) AS preferences
         FROM ${tableRef(this.dataSource, ApiKeyEntity)} k
         JOIN ${tableRef(this.dataSource, UserEntity)} u ON u.id = k.user_id
         LEFT JOIN ${tableRef(this.dataSource, UserQuotaEntity)} q ON q.user_id = k.user_id
        WHERE k.key_hash = $1 AND k.revoked_at IS NULL`,
      [sha256Hex(key)],
    );
    const r = rows[0];
    if (r === undefined) {
      return null;
    }
    return {
      id: r.id,
      userId: r.userId,
      userName: r.userName,
      role: r.role,
      prefix: r.prefix,
      expiresAt: r.expiresAt,
      allowedModels: r.allowedModels,
      rpm: r.rpm,
      tpm: r.tpm,
      preferences: r.preferences,
      quota:
        r.tier === null
          ? null
          : {
              tier: r.tier,
              dailyRequestLimit: r.dailyRequestLimit,
              monthlyRequestLimit: r.monthlyRequestLimit,
              dailySpendLimitUsd: numericOrNull(r.dailySpendLimitUsd),
              monthlySpendLimitUsd: numericOrNull(r.monthlySpendLimitUsd),
            },
    };
  }

  /**
   * Whether the key with this id may still be used, by its primary key: revoked, and when it expires; null when there
   * is no such key (its user was deleted with it). What a worker checks before running a job that waited in the queue.
   */
  async standingOf(id: string): Promise<ApiKeyStanding | null> {
    if (!UUID.test(id)) {
      return null;
    }
    const rows = await this.dataSource.query<ApiKeyStanding[]>(
      `SELECT revoked_at IS NOT NULL AS revoked, expires_at AS "expiresAt"
         FROM ${tableRef(this.dataSource, ApiKeyEntity)} WHERE id = $1`,
      [id],
    );
    return rows[0] ?? null;
  }

  /** Every key, or one user's; never a secret. */
  async list(opts: { userId?: string } = {}): Promise<ApiKeyInfo[]> {
    if (opts.userId !== undefined && !UUID.test(opts.userId)) {
      return [];
    }
    const rows = await this.dataSource.getRepository(ApiKeyEntity).find({
      where: opts.userId === undefined ? {} : { userId: opts.userId },
      relations: { user: true },
      order: { createdAt: 'ASC', id: 'ASC' },
    });
    return rows.map((r) => this.info(r));
  }

  /**
   * One page of keys (every user's, or one user's) by creation, then id; never a secret. The index on
   * (created_at, id) serves the whole listing, the one on user_id a user's.
   */
  async page(q: KeysetQuery & { userId?: string }): Promise<KeysetPage<ApiKeyInfo>> {
    if (q.userId !== undefined && !UUID.test(q.userId)) {
      return { items: [], next: null };
    }
    const params: unknown[] = [q.limit + 1];
    const where: string[] = [];
    if (q.userId !== undefined) {
      params.push(q.userId);
      where.push(`k.user_id = $${params.length}`);
    }
    const sql = keysetOrderSql('k', q.order, `$${params.length + 1}`, `$${params.length + 2}`);
    if (q.after !== undefined) {
      params.push(q.after.at, q.after.id);
      where.push(sql.after);
    }
    const rows = await this.dataSource.query<(ApiKeyInfo & { cursorAt: string })[]>(
      `SELECT k.id, k.prefix, k.name, k.role, k.user_id AS "userId", u.name AS "userName",
              k.created_at AS "createdAt", k.last_used_at AS "lastUsedAt", k.revoked_at AS "revokedAt",
              k.expires_at AS "expiresAt", k.allowed_models AS "allowedModels", k.rpm, k.tpm,
              ${keysetAtSql('k.created_at')} AS "cursorAt"
         FROM ${tableRef(this.dataSource, ApiKeyEntity)} k
         JOIN ${tableRef(this.dataSource, UserEntity)} u ON u.id = k.user_id
        ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`}
        ORDER BY ${sql.orderBy}
        LIMIT $1`,
      params,
    );
    return keysetPage(rows, q.limit);
  }

  /**
   * Revokes the key with this id, audited as `actor` with the key before and after. Null when there is no
   * such key; an already revoked key is returned as it is (and not audited again).
   */
  async revokeById(id: string, actor: string): Promise<ApiKeyInfo | null> {
    if (!UUID.test(id)) {
      return null;
    }
    return this.dataSource.transaction(async (m) => {
      const repo = m.getRepository(ApiKeyEntity);
      // Lock first (FOR UPDATE cannot take the outer join that loads the user), so concurrent revokes audit once.
      if ((await repo.findOne({ where: { id }, lock: { mode: 'pessimistic_write' } })) === null) {
        return null;
      }
      const row = await repo.findOneOrFail({ where: { id }, relations: { user: true } });
      const before = this.info(row);
      if (row.revokedAt !== null) {
        return before;
      }
      await repo.update({ id }, { revokedAt: () => 'now()' });
      const after = this.info(await repo.findOneOrFail({ where: { id }, relations: { user: true } }));
      await AuditLogStore.write(m, { actor, action: 'key.revoke', target: id, before, after });
      return after;
    });
  }

  /**
   * Revokes one key by id, by its visible prefix, or by the whole key (matched by its hash: what someone holding a
   * leaked key has at hand; longer than any prefix, see keyPrefixOf). Returns it (already revoked keys keep their
   * original revocation time), or null when nothing matches. With `actor` (the keys CLI's `cli`), audited as
   * `revokeById` audits: in the same transaction, the key before and after, and only when it was not revoked yet (the
   * CLI wrote its own row afterwards, without the record, and again at every revoke of a key already revoked).
   */
  async revoke(idOrPrefix: string, actor?: string): Promise<ApiKeyInfo | null> {
    const repo = this.dataSource.getRepository(ApiKeyEntity);
    const where = UUID.test(idOrPrefix)
      ? { id: idOrPrefix }
      : isWholeKey(idOrPrefix)
        ? { keyHash: sha256Hex(idOrPrefix) }
        : { prefix: idOrPrefix };
    const matches = await repo.find({ where, relations: { user: true } });
    if (matches.length > 1) {
      throw new AmbiguousKeyPrefixError(idOrPrefix, matches.length);
    }
    const [row] = matches;
    if (!row) {
      return null;
    }
    if (actor !== undefined) {
      return this.revokeById(row.id, actor);
    }
    if (row.revokedAt === null) {
      await repo.update({ id: row.id, revokedAt: IsNull() }, { revokedAt: () => 'now()' });
      const fresh = await repo.findOneOrFail({ where: { id: row.id }, relations: { user: true } });
      return this.info(fresh);
    }
    return this.info(row);
  }

  /**
   * Makes sure an admin key with exactly this value exists (ADMIN_BOOTSTRAP_KEY). Idempotent and
   * safe when several processes call it at once: both inserts lean on unique constraints.
   */
  async ensureBootstrapKey(key: string, userName = 'admin'): Promise<BootstrapKeyResult> {
    if (key.trim() === '') {
      throw new Error('the bootstrap key must not be empty');
    }
    const userId = await this.ensureUser(this.dataSource.manager, userName);
    const hash = sha256Hex(key);
    const inserted = await this.dataSource.query<{ id: string }[]>(
      `INSERT INTO ${tableRef(this.dataSource, ApiKeyEntity)} (user_id, role, key_hash, prefix, name)
       VALUES ($1, 'admin', $2, $3, 'bootstrap')
       ON CONFLICT (key_hash) DO NOTHING
       RETURNING id`,
      [userId, hash, keyPrefixOf(key)],
    );
    if (inserted.length === 1) {
      return { id: inserted[0].id, userId, created: true, revoked: false };
    }
    const row = await this.dataSource.getRepository(ApiKeyEntity).findOneByOrFail({ keyHash: hash });
    return { id: row.id, userId: row.userId, created: false, revoked: row.revokedAt !== null };
  }

  /**
   * Records when keys were last used (callers batch them off the request path): each key's time of use, not the time
   * of the batch, and never moving a later time back.
   */
  async touchLastUsed(uses: ReadonlyMap<string, Date>): Promise<void> {
    if (uses.size === 0) {
      return;
    }
    await this.dataSource.query(
      `UPDATE ${tableRef(this.dataSource, ApiKeyEntity)} AS k
          SET last_used_at = GREATEST(k.last_used_at, u.used_at)
         FROM unnest($1::uuid[], $2::timestamptz[]) AS u(id, used_at)
        WHERE k.id = u.id`,
      [[...uses.keys()], [...uses.values()]],
    );
  }

  /** The id of the user of this name, created (and audited as `actor`'s `user.create`, when given) if new. */
  private async ensureUser(m: EntityManager, name: string, actor?: string): Promise<string> {
    if (name.trim() === '') {
      throw new Error('a user name must not be empty');
    }
    const users = tableRef(this.dataSource, UserEntity);
    const inserted = await m.query<{ id: string; createdAt: Date }[]>(
      `INSERT INTO ${users} (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id, created_at AS "createdAt"`,
      [name],
    );
    if (inserted.length === 1) {
      const { id, createdAt } = inserted[0];
      if (actor !== undefined) {
        // As the admin API records it (a user without a quota row has the default tier).
        const after = { id, name, tier: 'default', createdAt };
        await AuditLogStore.write(m, { actor, action: 'user.create', target: id, before: null, after });
      }
      return id;
    }
    const rows = await m.query<{ id: string }[]>(`SELECT id FROM ${users} WHERE name = $1`, [name]);
    return rows[0].id;
  }

  private info(row: ApiKeyEntity): ApiKeyInfo {
    return {
      id: row.id,
      prefix: row.prefix,
      name: row.name,
      role: row.role,
      userId: row.userId,
      userName: row.user?.name ?? '',
      createdAt: row.createdAt,
      lastUsedAt: row.lastUsedAt,
      revokedAt: row.revokedAt,
      expiresAt: row.expiresAt,
      allowedModels: row.allowedModels,
      rpm: row.rpm,
      tpm: row.tpm,
    };
  }
}
