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

export interface RotationSummary {
  providers: RotationCounts;
  gateways: RotationCounts;
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

interface SealedRow {
  entity: typeof ProviderEntity | typeof GatewayEntity;
  owner: string;
  id: string;
  encryptedSecret: string;
}

/**
 * Re-encrypts every stored secret (providers' and gateways' API keys) under the box's current key, in one
 * transaction holding the catalog's advisory lock (seeds and admin changes wait for it). Idempotent: a secret already
 * under the current key is left untouched. Refuses, changing nothing, when any secret decrypts under none of the keys.
 * Audited (counts only) when it changed anything.
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
    const rows = await sealedRows(m);
    const unreadable: string[] = [];
    const stale: { row: SealedRow; plaintext: string }[] = [];
    const summary: RotationSummary = {
      providers: { reencrypted: 0, current: 0 },
      gateways: { reencrypted: 0, current: 0 },
      dryRun,
    };
    for (const row of rows) {
      const counts = row.entity === ProviderEntity ? summary.providers : summary.gateways;
      let opened: OpenedSecret;
      try {
        opened = box.open(row.encryptedSecret);
      } catch {
        unreadable.push(row.owner);
        continue;
      }
      if (opened.underCurrentKey) {
        counts.current++;
      } else {
        counts.reencrypted++;
        stale.push({ row, plaintext: opened.plaintext });
      }
    }
    if (unreadable.length > 0) {
      throw new UnreadableSecretsError(unreadable);
    }
    if (dryRun || stale.length === 0) {
      return summary;
    }
    for (const { row, plaintext } of stale) {
      await m.update(row.entity, { id: row.id }, { encryptedSecret: box.encrypt(plaintext) });
    }
    await m.insert(AuditLogEntity, {
      actor: options.actor ?? 'cli',
      action: 'secrets.rotate',
      target: 'catalog',
      detail: { providers: { ...summary.providers }, gateways: { ...summary.gateways } },
    });
    return summary;
  });
}

async function sealedRows(m: EntityManager): Promise<SealedRow[]> {
  const rows: SealedRow[] = [];
  // One after another: a transaction is one connection, which runs one query at a time.
  for (const row of await m.find(GatewayEntity, { order: { id: 'ASC' } })) {
    if (row.encryptedSecret !== null) {
      rows.push({
        entity: GatewayEntity,
        owner: `gateway '${row.id}'`,
        id: row.id,
        encryptedSecret: row.encryptedSecret,
      });
    }
  }
  for (const row of await m.find(ProviderEntity, { order: { id: 'ASC' } })) {
    if (row.encryptedSecret !== null) {
      rows.push({
        entity: ProviderEntity,
        owner: `provider '${row.id}'`,
        id: row.id,
        encryptedSecret: row.encryptedSecret,
      });
    }
  }
  return rows;
}
