import { allowedModelEntryProblem, DEFAULT_DATABASE_URL, KEY_EXPIRY_RULE, keyExpiryOf } from '@aigw/core';
import { parseArgs } from 'node:util';
import { UsageError } from '../shared/database-cli';

export { UsageError };

/** The longest user name and key label, as the admin API takes them. */
export const MAX_NAME_LENGTH = 200;

export type KeysCommand =
  | {
      kind: 'create';
      user: string;
      admin: boolean;
      name?: string;
      expiresAt?: Date;
      allowedModels?: string[];
      rpm?: number;
      tpm?: number;
    }
  | { kind: 'list' }
  | { kind: 'users' }
  | { kind: 'revoke'; target: string }
  | { kind: 'help' };

export const USAGE = `Usage: npm run keys -- <command>

Commands:
  create --user NAME [--admin] [--name LABEL]   create an API key for NAME (created if new);
         [--expires ISO-DATE-TIME]              the key is printed once and cannot be shown again;
         [--models a,provider/b,provider/*]     --models restricts it to those models, --rpm/--tpm
         [--rpm N] [--tpm N]                    set its own requests/tokens per minute
  list                                          list keys: id, prefix, user, role, dates (never the key)
  users                                         list users: id, name, tier, created
  revoke <id|prefix|key>                        revoke a key
  help                                          show this text

Environment:
  DATABASE_URL     postgres://user:password@host:port/database
                   (default: ${DEFAULT_DATABASE_URL}, as the apps)
  DATABASE_SCHEMA  schema holding the tables (default: public); it must exist (the apps, or
                   npm run migration:run, create it): a misspelt name is refused
Pending migrations are applied first, so this works on a fresh database's public schema.`;

function parse(
  args: string[],
  options: Record<string, { type: 'string' | 'boolean' }>,
  positionals: number,
): ReturnType<typeof parseArgs> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args, options, allowPositionals: positionals > 0, strict: true });
  } catch (err) {
    // Not `instanceof Error`: node:util errors come from another realm under jest's VM.
    const message = (err as { message?: unknown } | null)?.message;
    throw new UsageError(typeof message === 'string' ? message : 'invalid arguments', { cause: err });
  }
  if (parsed.positionals.length > positionals) {
    throw new UsageError(`unexpected argument '${parsed.positionals[positionals]}'`);
  }
  return parsed;
}

export function parseKeysArgs(argv: string[]): KeysCommand {
  const [command, ...rest] = argv;
  switch (command) {
    case 'create': {
      const { values } = parse(
        rest,
        {
          user: { type: 'string' },
          admin: { type: 'boolean' },
          name: { type: 'string' },
          expires: { type: 'string' },
          models: { type: 'string' },
          rpm: { type: 'string' },
          tpm: { type: 'string' },
        },
        0,
      );
      const user = typeof values.user === 'string' ? values.user.trim() : '';
      if (user === '') {
        throw new UsageError('create needs --user NAME');
      }
      const name = typeof values.name === 'string' && values.name.trim() !== '' ? values.name.trim() : undefined;
      // The admin API's limit (POST /users `name`, POST /keys `name`): a longer one was stored from here alone.
      for (const [option, value] of [
        ['--user', user],
        ['--name', name],
      ] as const) {
        if (value !== undefined && value.length > MAX_NAME_LENGTH) {
          throw new UsageError(`${option} must be at most ${MAX_NAME_LENGTH} characters (it has ${value.length})`);
        }
      }
      const cmd: KeysCommand = { kind: 'create', user, admin: values.admin === true };
      if (name !== undefined) {
        cmd.name = name;
      }
      if (typeof values.expires === 'string') {
        cmd.expiresAt = expiryOf(values.expires);
      }
      if (typeof values.models === 'string') {
        cmd.allowedModels = modelsOf(values.models);
      }
      if (typeof values.rpm === 'string') {
        cmd.rpm = rateOf('--rpm', values.rpm);
      }
      if (typeof values.tpm === 'string') {
        cmd.tpm = rateOf('--tpm', values.tpm);
      }
      return cmd;
    }
    case 'list':
      parse(rest, {}, 0);
      return { kind: 'list' };
    case 'users':
      parse(rest, {}, 0);
      return { kind: 'users' };
    case 'revoke': {
      const { positionals } = parse(rest, {}, 1);
      if (positionals.length === 0 || positionals[0].trim() === '') {
        throw new UsageError('revoke needs the id, the prefix or the whole of a key');
      }
      return { kind: 'revoke', target: positionals[0].trim() };
    }
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

/** The admin API's bound on a key's rpm and tpm (CreateKeyDto); the columns hold no more. */
const MAX_RATE = 1_000_000_000;

function expiryOf(value: string): Date {
  // The admin API's rule (CreateKeyDto.expiresAt).
  const at = keyExpiryOf(value);
  if (at === null) {
    throw new UsageError(`--expires needs ${KEY_EXPIRY_RULE}`);
  }
  if (at.getTime() <= Date.now()) {
    throw new UsageError('--expires must lie in the future');
  }
  return at;
}

function modelsOf(value: string): string[] {
  const models = value.split(',').map((m) => m.trim());
  for (const m of models) {
    const problem = allowedModelEntryProblem(m);
    if (problem !== null) {
      throw new UsageError(`--models: '${m}' ${problem}`);
    }
  }
  return [...new Set(models)];
}

function rateOf(flag: string, value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > MAX_RATE) {
    throw new UsageError(`${flag} needs a whole number from 1 to ${MAX_RATE}`);
  }
  return n;
}
