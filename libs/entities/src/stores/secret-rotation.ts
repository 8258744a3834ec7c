import type { DataSource, EntityManager } from 'typeorm';
import { AuditLogEntity } from '../entities/audit-log.entity';
import { GatewayEntity } from '../entities/gateway.entity';
import { ProviderEntity } from '../entities/provider.entity';
import { advisoryLockKey, checkSchemaName } from '../schema-name';
import { SecretBoxError, type OpenedSecret, type SecretBox } from '../secret-box';

/** Counts of one kind of row holding a secret (rows without one are not counted). */
export interface RotationCounts {
  /** Sealed under a previous key: re-encrypted under SECRETS_KEY (with `dryRun`: would be). */
  reencrypted: number;
  /** Already under SECRETS_KEY: left as they are. */
  current: number;
}

/**
 * The catalog file's API keys as the boot seed recorded them (`seeded.encryptedSecret` of providers and gateways, see
 * ProviderEntity.seeded), counted apart from the stored keys: a copy the seed compares the file with, never a key
 * anything is called with.
 */
export interface RecordedRotationCounts extends RotationCounts {
  /**
   * Decrypting under none of the keys (recorded under a SECRETS_KEY since retired): removed from the record (with
   * `dryRun`: would be), not refused: the seed only compares with it, treats one it cannot open as not recorded, and
   * records the file's key again at the next boot.
   */
  removed: number;
  /** The rows of `removed` ("gateway 'litellm'"). */
  removedOwners: string[];
}

export interface RotationSummary {
  providers: RotationCounts;
  gateways: RotationCounts;
  seeded: RecordedRotationCounts;
  dryRun: boolean;
}

/** Secrets that decrypt under none of the keys: the rotation changed nothing. Names the rows, never a value. */
export class UnreadableSecretsError extends SecretBoxError {
  constructor(readonly owners: string[]) {
    super(
      `cannot decrypt the stored API key of ${owners.join(', ')} under SECRETS_KEY or any key in ` +
        'SECRETS_KEY_PREVIOUS: add the key it was encrypted with to SECRETS_KEY_PREVIOUS (or set that API key ' +
        'again through the admin API); nothing was changed',
    );
    this.name = 'UnreadableSecretsError';
  }
}

interface SecretRow {
  entity: typeof ProviderEntity | typeof GatewayEntity;
  owner: string;
  id: string;
  encryptedSecret: string | null;
  seeded: Record<string, unknown> | null;
}

/** What the rotation does to one row. */
interface RowChange {
  row: SecretRow;
  /** The stored key's plaintext, when it is under a previous key. */
  stalePlaintext?: string;
  /** The recorded key's plaintext, when it is under a previous key. */
  staleRecorded?: string;
  /** The recorded key opens under none of the keys. */
  removeRecorded?: true;
  /** The plaintext of a current stored key (a stale record holding the same secret takes its envelope). */
  currentPlaintext?: string;
}

/** Opens `sealed`; undefined when it decrypts under none of the keys (or is no envelope at all). */
function tryOpen(box: SecretBox, sealed: unknown): OpenedSecret | undefined {
  if (typeof sealed !== 'string') {
    return undefined;
  }
  try {
    return box.open(sealed);
  } catch {
    return undefined;
  }
}

/**
 * Re-encrypts every stored secret (providers' and gateways' API keys, and the catalog file's keys the boot seed
 * recorded of them in `seeded`) under the box's current key, in one transaction holding the catalog's advisory lock
 * (seeds and admin changes wait for it). Idempotent: a secret already under the current key is left untouched.
 * Refuses, changing nothing, when any stored key decrypts under none of the keys; a recorded key that does is removed
 * from its record (see RecordedRotationCounts.removed). Audited (counts only) when it changed anything.
 */
export async function rotateSecrets(
  dataSource: DataSource,
  box: SecretBox,
  options: { dryRun?: boolean; actor?: string } = {},
): Promise<RotationSummary> {
  const dryRun = options.dryRun === true;
  const schema = checkSchemaName((dataSource.options as { schema?: string }).schema);
  return dataSource.transaction(async (m) => {
    await m.query('SELECT pg_advisory_xact_lock($1::bigint)', [advisoryLockKey('catalog-seed', schema)]);
    const unreadable: string[] = [];
    const changes: RowChange[] = [];
    const summary: RotationSummary = {
      providers: { reencrypted: 0, current: 0 },
      gateways: { reencrypted: 0, current: 0 },
      seeded: { reencrypted: 0, current: 0, removed: 0, removedOwners: [] },
      dryRun,
    };
    for (const row of await secretRows(m)) {
      const counts = row.entity === ProviderEntity ? summary.providers : summary.gateways;
      const change: RowChange = { row };
      if (row.encryptedSecret !== null) {
        const opened = tryOpen(box, row.encryptedSecret);
        if (opened === undefined) {
          unreadable.push(row.owner);
        } else if (opened.underCurrentKey) {
          counts.current++;
          change.currentPlaintext = opened.plaintext;
        } else {
          counts.reencrypted++;
          change.stalePlaintext = opened.plaintext;
        }
      }
      const recorded = row.seeded?.encryptedSecret;
      if (recorded !== undefined && recorded !== null) {
        const opened = tryOpen(box, recorded);
        if (opened === undefined) {
          summary.seeded.removed++;
          summary.seeded.removedOwners.push(row.owner);
          change.removeRecorded = true;
        } else if (opened.underCurrentKey) {
          summary.seeded.current++;
        } else {
          summary.seeded.reencrypted++;
          change.staleRecorded = opened.plaintext;
        }
      }
      if (change.stalePlaintext !== undefined || change.staleRecorded !== undefined || change.removeRecorded) {
        changes.push(change);
      }
    }
    if (unreadable.length > 0) {
      throw new UnreadableSecretsError(unreadable);
    }
    if (dryRun || changes.length === 0) {
      return summary;
    }
    for (const change of changes) {
      await m.update(change.row.entity, { id: change.row.id }, reencrypted(box, change));
    }
    const { removedOwners: _owners, ...seeded } = summary.seeded;
    await m.insert(AuditLogEntity, {
      actor: options.actor ?? 'cli',
      action: 'secrets.rotate',
      target: 'catalog',
      detail: { providers: { ...summary.providers }, gateways: { ...summary.gateways }, seeded },
    });
    return summary;
  });
}

/**
 * The columns one row's rotation writes. A recorded key holding the same secret as the stored one takes the stored
 * envelope (new or current), not one of its own: the seed compares a file row's record with the row as the file makes
 * it, envelope included, and would otherwise rewrite the record at the next boot. Re-encrypting the record alone is
 * no change of the settings: `updated_at` stays (as when the seed writes it).
 */
function reencrypted(box: SecretBox, change: RowChange): Record<string, unknown> {
  const { row } = change;
  const storedKey = change.stalePlaintext !== undefined ? box.encrypt(change.stalePlaintext) : row.encryptedSecret;
  const storedPlaintext = change.stalePlaintext ?? change.currentPlaintext;
  const columns: Record<string, unknown> =
    change.stalePlaintext !== undefined ? { encryptedSecret: storedKey } : { updatedAt: () => '"updated_at"' };
  if (change.removeRecorded) {
    const { encryptedSecret: _unreadable, ...rest } = row.seeded ?? {};
    columns.seeded = rest;
  } else if (change.staleRecorded !== undefined) {
    columns.seeded = {
      ...row.seeded,
      encryptedSecret: change.staleRecorded === storedPlaintext ? storedKey : box.encrypt(change.staleRecorded),
    };
  }
  return columns;
}

async function secretRows(m: EntityManager): Promise<SecretRow[]> {
  const rows: SecretRow[] = [];
  // One after another: a transaction is one connection, which runs one query at a time.
  for (const row of await m.find(GatewayEntity, { order: { id: 'ASC' } })) {
    rows.push({
      entity: GatewayEntity,
      owner: `gateway '${row.id}'`,
      id: row.id,
      encryptedSecret: row.encryptedSecret,
      seeded: row.seeded as Record<string, unknown> | null,
    });
  }
  for (const row of await m.find(ProviderEntity, { order: { id: 'ASC' } })) {
    rows.push({
      entity: ProviderEntity,
      owner: `provider '${row.id}'`,
      id: row.id,
      encryptedSecret: row.encryptedSecret,
      seeded: row.seeded as Record<string, unknown> | null,
    });
  }
  return rows;
}
