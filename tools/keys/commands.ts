import { isWholeKey, UserStore, type ApiKeyInfo, type ApiKeyStore, type UserView } from '@aigw/entities';
import type { DataSource } from 'typeorm';
import type { KeysCommand } from './args';
import type { CliOutput } from '../shared/database-cli';

/**
 * Tells the gateways that a user's keys changed (announceAuthChange); answers why it could not, or null. The default
 * tells nobody (a test of the commands alone).
 */
export type AnnounceAuthChange = (userId: string) => Promise<string | null>;

/** Where a command writes (see CliOutput). */
export type KeysOutput = CliOutput;

function when(date: Date | null): string {
  return date === null ? '-' : date.toISOString().replace(/\.\d+Z$/, 'Z');
}

/** Fixed-width columns; keys and hashes never appear (ApiKeyInfo holds neither). */
export function formatKeyTable(keys: ApiKeyInfo[]): string[] {
  const header = ['ID', 'PREFIX', 'USER', 'ROLE', 'NAME', 'CREATED', 'LAST USED', 'REVOKED', 'EXPIRES', 'MODELS'];
  const rows = keys.map((k) => [
    k.id,
    k.prefix,
    k.userName,
    k.role,
    k.name ?? '-',
    when(k.createdAt),
    when(k.lastUsedAt),
    when(k.revokedAt),
    when(k.expiresAt),
    k.allowedModels === null ? '*' : k.allowedModels.join(','),
  ]);
  return formatTable(header, rows);
}

/**
 * Users with the same header line and fixed-width columns as the key table: a bare `id  name  tier` per user, with no
 * header, left the reader to guess which column was which (and a script to rely on the guess).
 */
export function formatUserTable(users: UserView[]): string[] {
  return formatTable(
    ['ID', 'NAME', 'TIER', 'CREATED'],
    users.map((u) => [u.id, u.name, u.tier, when(u.createdAt)]),
  );
}

/** A header line, then one line per row, each column padded to its widest cell (trailing blanks trimmed). */
function formatTable(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [header, ...rows].map((r) =>
    r
      .map((cell, i) => cell.padEnd(widths[i]))
      .join('  ')
      .trimEnd(),
  );
}

/** Runs one command against the database; returns the exit code. */
export async function runKeysCommand(
  cmd: Exclude<KeysCommand, { kind: 'help' }>,
  store: ApiKeyStore,
  dataSource: DataSource,
  io: KeysOutput,
  announce: AnnounceAuthChange = () => Promise.resolve(null),
): Promise<number> {
  switch (cmd.kind) {
    case 'create': {
      const role = cmd.admin ? 'admin' : 'user';
      const created = await store.create(
        {
          userName: cmd.user,
          role,
          name: cmd.name,
          expiresAt: cmd.expiresAt,
          allowedModels: cmd.allowedModels,
          rpm: cmd.rpm,
          tpm: cmd.tpm,
        },
        'cli',
      );
      io.out(`Created ${role} key ${created.prefix} (id ${created.id}) for user '${cmd.user}':`);
      io.out('');
      io.out(`  ${created.key}`);
      io.out('');
      io.out('Store it now: it is not kept anywhere and cannot be shown again.');
      return 0;
    }
    case 'list': {
      const keys = await store.list();
      if (keys.length === 0) {
        io.out('No keys yet. Create one with: npm run keys -- create --user NAME');
        return 0;
      }
      formatKeyTable(keys).forEach((line) => io.out(line));
      return 0;
    }
    case 'users': {
      const users = await new UserStore(dataSource).list();
      if (users.length === 0) {
        io.out('No users yet. Create one with a key: npm run keys -- create --user NAME');
        return 0;
      }
      formatUserTable(users).forEach((line) => io.out(line));
      return 0;
    }
    case 'revoke': {
      // Audited by the store, in the revocation's transaction, as the admin API's DELETE is.
      const revoked = await store.revoke(cmd.target, 'cli');
      if (!revoked) {
        // A whole key is a secret: not printed back (a terminal's scrollback and a CI log keep what they show).
        io.err(
          isWholeKey(cmd.target) ? 'No key matches the key given.' : `No key has the id or prefix '${cmd.target}'.`,
        );
        return 1;
      }
      io.out(
        `Revoked key ${revoked.prefix} (id ${revoked.id}) of user '${revoked.userName}' at ${when(revoked.revokedAt)}.`,
      );
      // Also for a key revoked before: that run may not have reached the gateways.
      const unsent = await announce(revoked.userId);
      if (unsent !== null) {
        io.err(
          `(the gateways were not told (${unsent}): the key stops working on each within its AUTH_CACHE_TTL_MS, 5 s by ` +
            'default)',
        );
      }
      return 0;
    }
  }
}
