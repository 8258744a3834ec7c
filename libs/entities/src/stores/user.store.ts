import type { DataSource } from 'typeorm';
import { UserQuotaEntity } from '../entities/user-quota.entity';
import { UserEntity } from '../entities/user.entity';
import { tableRef } from '../table-ref';
import { AuditLogStore } from './audit-log.store';
import { keysetAtSql, keysetOrderSql, keysetPage, UUID, type KeysetPage, type KeysetQuery } from './keyset';

const UNIQUE_VIOLATION = '23505';

export interface UserView {
  id: string;
  name: string;
  tier: string;
  createdAt: Date;
}

export class DuplicateUserError extends Error {
  constructor(name: string) {
    super(`a user named '${name}' already exists`);
    this.name = 'DuplicateUserError';
  }
}

/** A LIKE pattern matching what starts with `text`: its wildcards (and the escape character) taken literally. */
function likePrefix(text: string): string {
  return `${text.replace(/[\\%_]/g, '\\$&')}%`;
}

/** Users, each with its user_quotas row (the tier and the user's own limits). */
export class UserStore {
  constructor(private readonly dataSource: DataSource) {}

  /** Creates the user and its quota row with `tier` in one transaction, audited as `actor`. */
  async create(input: { name: string; tier: string }, actor: string): Promise<UserView> {
    try {
      return await this.dataSource.transaction(async (m) => {
        const user = await m.save(m.create(UserEntity, { name: input.name }));
        await m.insert(UserQuotaEntity, { userId: user.id, tier: input.tier });
        const view: UserView = { id: user.id, name: user.name, tier: input.tier, createdAt: user.createdAt };
        await AuditLogStore.write(m, { actor, action: 'user.create', target: user.id, before: null, after: view });
        return view;
      });
    } catch (err) {
      if ((err as { driverError?: { code?: string } }).driverError?.code === UNIQUE_VIOLATION) {
        throw new DuplicateUserError(input.name);
      }
      throw err;
    }
  }

  /** Users without a quota row (created by the keys CLI) have the `default` tier. */
  async list(): Promise<UserView[]> {
    return this.dataSource.query<UserView[]>(
      `SELECT u.id, u.name, COALESCE(q.tier, 'default') AS tier, u.created_at AS "createdAt"
         FROM ${tableRef(this.dataSource, UserEntity)} u
         LEFT JOIN ${tableRef(this.dataSource, UserQuotaEntity)} q ON q.user_id = u.id
        ORDER BY u.created_at, u.id`,
    );
  }

  /**
   * One page of users by creation (then id), each with its tier; the index on (created_at, id) serves it. `namePrefix`:
   * only the users whose name starts with it, in any case; the index on lower(name) finds them without a scan.
   */
  async page(q: KeysetQuery & { namePrefix?: string }): Promise<KeysetPage<UserView>> {
    const params: unknown[] = [q.limit + 1];
    const where: string[] = [];
    if (q.after !== undefined) {
      params.push(q.after.at, q.after.id);
      where.push(keysetOrderSql('u', q.order, '$2', '$3').after);
    }
    if (q.namePrefix !== undefined && q.namePrefix !== '') {
      params.push(likePrefix(q.namePrefix));
      // lower() on both sides, the same function the index holds; a LIKE pattern without a leading wildcard is
      // what PostgreSQL turns into a range over the text_pattern_ops index.
      where.push(`lower(u.name) LIKE lower($${params.length}) ESCAPE '\\'`);
    }
    const rows = await this.dataSource.query<(UserView & { cursorAt: string })[]>(
      `SELECT u.id, u.name, COALESCE(q.tier, 'default') AS tier, u.created_at AS "createdAt",
              ${keysetAtSql('u.created_at')} AS "cursorAt"
         FROM ${tableRef(this.dataSource, UserEntity)} u
         LEFT JOIN ${tableRef(this.dataSource, UserQuotaEntity)} q ON q.user_id = u.id
        ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`}
        ORDER BY ${keysetOrderSql('u', q.order, '$2', '$3').orderBy}
        LIMIT $1`,
      params,
    );
    return keysetPage(rows, q.limit);
  }

  async exists(id: string): Promise<boolean> {
    return UUID.test(id) && (await this.dataSource.getRepository(UserEntity).existsBy({ id }));
  }
}
