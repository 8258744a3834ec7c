import { DEFAULT_DATABASE_URL } from '@aigw/core';
import { UsageError } from '../shared/database-cli';

export { UsageError };

export type SecretsCommand = { kind: 'rotate' } | { kind: 'check' } | { kind: 'help' };

export const USAGE = `Usage: npm run secrets -- <command>

Commands:
  rotate   re-encrypt every stored secret (providers' and gateways' API keys, and the catalog file's
           keys the boot seed recorded of them) under SECRETS_KEY, in one transaction; secrets already
           under it are left alone (running it again changes nothing). Refuses, changing nothing, when
           a stored key decrypts under none of the keys; a recorded one that does is removed (the next
           boot records the file's key again).
  check    the same reading, without writing: how many secrets are under SECRETS_KEY, how many under
           a key in SECRETS_KEY_PREVIOUS, and which decrypt under none
  help     show this text

Environment:
  SECRETS_KEY           the current key (32 bytes, base64 or 64 hex characters), as the apps
  SECRETS_KEY_PREVIOUS  old keys, comma-separated, same format
  DATABASE_URL          postgres://user:password@host:port/database
                        (default: ${DEFAULT_DATABASE_URL}, as the apps)
  DATABASE_SCHEMA       schema holding the tables (default: public); it must exist
Counts only are printed: never a key or a secret.`;

export function parseSecretsArgs(argv: string[]): SecretsCommand {
  const [command, ...rest] = argv;
  if (rest.length > 0) {
    throw new UsageError(`unexpected argument '${rest[0]}'`);
  }
  switch (command) {
    case 'rotate':
      return { kind: 'rotate' };
    case 'check':
      return { kind: 'check' };
    case 'help':
    case '--help':
    case '-h':
      return { kind: 'help' };
    case undefined:
      throw new UsageError('missing command');
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}
