import { randomBytes } from 'node:crypto';
import { sha256Hex } from '@aigw/core';
import { In, IsNull, type DataSource } from 'typeorm';
import { ApiKeyEntity, type ApiKeyRole } from '../entities/api-key.entity';
import { UserEntity } from '../entities/user.entity';
import { tableRef } from '../table-ref';

export const API_KEY_PREFIX = 'sk-aigw-';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface CreatedApiKey {
  /** The plaintext key: returned here once, stored nowhere. */
  key: string;
  id: string;
  prefix: string;
  userId: string;
  role: ApiKeyRole;
}

/** What authentication needs to know about a presented key. */
export interface ActiveApiKey {
  id: string;
  userId: string;
  userName: string;
  role: ApiKeyRole;
  prefix: string;
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
}

export interface BootstrapKeyResult {
  id: string;
  userId: string;
  /** False when the key already existed. */
  created: boolean;
  /** True when an operator revoked it: it stays revoked (the caller should warn). */
  revoked: boolean;
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
  return key.slice(0, Math.min(16, Math.floor(key.length / 3)));
}

export class ApiKeyStore {
  constructor(private readonly dataSource: DataSource) {}

  async create(input: { userName: string; role: ApiKeyRole; name?: string }): Promise<CreatedApiKey> {
    const userId = await this.ensureUser(input.userName);
    const key = API_KEY_PREFIX + randomBytes(32).toString('base64url');
    const prefix = keyPrefixOf(key);
    const row = await this.dataSource.getRepository(ApiKeyEntity).save({
      userId,
      role: input.role,
      keyHash: sha256Hex(key),
      prefix,
      name: input.name ?? null,
    });
    return { key, id: row.id, prefix, userId, role: input.role };
  }

  /** The hot-path lookup: by hash, through a unique index; writes nothing (see touchLastUsed). */
  async findActiveByKey(key: string): Promise<ActiveApiKey | null> {
    const row = await this.dataSource
      .getRepository(ApiKeyEntity)
      .createQueryBuilder('k')
      .innerJoin('k.user', 'u')
      .select(['k.id AS id', 'k.userId AS "userId"', 'u.name AS "userName"', 'k.role AS role', 'k.prefix AS prefix'])
      .where('k.keyHash = :hash AND k.revokedAt IS NULL', { hash: sha256Hex(key) })
      .getRawOne<ActiveApiKey>();
    return row ?? null;
  }

  async list(): Promise<ApiKeyInfo[]> {
    const rows = await this.dataSource
      .getRepository(ApiKeyEntity)
      .find({ relations: { user: true }, order: { createdAt: 'ASC', id: 'ASC' } });
    return rows.map((r) => this.info(r));
  }

  /**
   * Revokes one key by id or by its visible prefix. Returns it (already revoked keys keep their
   * original revocation time), or null when nothing matches.
   */
  async revoke(idOrPrefix: string): Promise<ApiKeyInfo | null> {
    const repo = this.dataSource.getRepository(ApiKeyEntity);
    const where = UUID.test(idOrPrefix) ? { id: idOrPrefix } : { prefix: idOrPrefix };
    const matches = await repo.find({ where, relations: { user: true } });
    if (matches.length > 1) {
      throw new AmbiguousKeyPrefixError(idOrPrefix, matches.length);
    }
    const [row] = matches;
    if (!row) {
      return null;
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
    const userId = await this.ensureUser(userName);
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

  /** Records use of keys seen since the last call (callers batch them off the request path). */
  async touchLastUsed(ids: string[]): Promise<void> {
    const unique = [...new Set(ids)];
    if (unique.length === 0) {
      return;
    }
    await this.dataSource.getRepository(ApiKeyEntity).update({ id: In(unique) }, { lastUsedAt: () => 'now()' });
  }

  private async ensureUser(name: string): Promise<string> {
    if (name.trim() === '') {
      throw new Error('a user name must not be empty');
    }
    const users = tableRef(this.dataSource, UserEntity);
    await this.dataSource.query(`INSERT INTO ${users} (name) VALUES ($1) ON CONFLICT (name) DO NOTHING`, [name]);
    const rows = await this.dataSource.query<{ id: string }[]>(`SELECT id FROM ${users} WHERE name = $1`, [name]);
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
    };
  }
}
