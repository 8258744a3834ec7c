import type { DataSource, EntityManager } from 'typeorm';
import { AuditLogEntity } from '../entities/audit-log.entity';

/** One admin change. `before`/`after` are the changed record's public view: never a key, hash or secret. */
export interface AuditEntry {
  /** Who: `api-key:<id>:<prefix>`, `cli`, ... */
  actor: string;
  /** What, dotted: `user.create`, `key.revoke`, `quota.update`, ... */
  action: string;
  target: string | null;
  before: object | null;
  after: object | null;
}

export interface AuditRecord extends AuditEntry {
  id: string;
  createdAt: Date;
}

/** The audit_log. Stores write their own entries inside the change's transaction (see `write`). */
export class AuditLogStore {
  constructor(private readonly dataSource: DataSource) {}

  /** Writes an entry with `m`, so it commits or rolls back with the change it describes. */
  static async write(m: EntityManager, entry: AuditEntry): Promise<void> {
    const row = new AuditLogEntity();
    row.actor = entry.actor;
    row.action = entry.action;
    row.target = entry.target;
    // Round-trip through JSON: Dates become ISO strings, undefined fields disappear.
    row.detail = JSON.parse(JSON.stringify({ before: entry.before, after: entry.after })) as Record<string, unknown>;
    await m.save(row);
  }

  /** An entry for a change outside PostgreSQL (e.g. clearing the response cache). */
  async record(entry: AuditEntry): Promise<void> {
    await AuditLogStore.write(this.dataSource.manager, entry);
  }

  /** Newest first; optionally one target's entries only. */
  async list(opts: { target?: string; limit?: number } = {}): Promise<AuditRecord[]> {
    const rows = await this.dataSource.getRepository(AuditLogEntity).find({
      where: opts.target === undefined ? {} : { target: opts.target },
      order: { id: 'DESC' },
      take: opts.limit ?? 100,
    });
    return rows.map((r) => ({
      id: r.id,
      actor: r.actor,
      action: r.action,
      target: r.target,
      before: (r.detail?.before as object | null | undefined) ?? null,
      after: (r.detail?.after as object | null | undefined) ?? null,
      createdAt: r.createdAt,
    }));
  }
}
