import { createDataSourceOptions, describeDatabaseError, readDatabaseEnv, runMigrationsLocked } from '@aigw/entities';
import { DataSource } from 'typeorm';

/** Bad command line: the caller prints it with the usage text and exits 2. */
export class UsageError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UsageError';
  }
}

/** Where a command writes: results to `out`, notes and errors to `err`. */
export interface CliOutput {
  out: (line: string) => void;
  err: (line: string) => void;
}

export interface DatabaseCli<C extends { kind: string }> {
  /** The tool's name, leading its error lines (`keys: ...`). */
  name: string;
  usage: string;
  parse: (argv: string[]) => C;
  /** Runs before anything connects (e.g. reading keys from the environment, so a bad one is named first). */
  prepare?: (io: CliOutput) => void;
  poolSize: number;
  run: (cmd: Exclude<C, { kind: 'help' }>, dataSource: DataSource, io: CliOutput) => Promise<number>;
  /** An error's line, when the tool knows better than describeDatabaseError (which never prints a password). */
  describe?: (err: unknown) => string | undefined;
}

/**
 * A command-line tool on the gateway's database: the arguments checked (exit 2 with the usage text), `help`, the
 * database of DATABASE_URL / DATABASE_SCHEMA opened and its pending migrations applied as the apps do (the schema must
 * exist), the command run, the connection closed; an error is one line (exit 1).
 */
export function runDatabaseCli<C extends { kind: string }>(tool: DatabaseCli<C>, argv = process.argv.slice(2)): void {
  const io: CliOutput = { out: (line) => console.log(line), err: (line) => console.error(line) };
  main(tool, argv, io).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      io.err(`${tool.name}: ${tool.describe?.(err) ?? describeDatabaseError(err)}`);
      process.exitCode = 1;
    },
  );
}

async function main<C extends { kind: string }>(tool: DatabaseCli<C>, argv: string[], io: CliOutput): Promise<number> {
  let cmd: C;
  try {
    cmd = tool.parse(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`${tool.name}: ${err.message}\n\n${tool.usage}`);
      return 2;
    }
    throw err;
  }
  if (cmd.kind === 'help') {
    io.out(tool.usage);
    return 0;
  }
  tool.prepare?.(io);
  const env = readDatabaseEnv(process.env);
  const dataSource = new DataSource(
    createDataSourceOptions({ ...env, poolSize: tool.poolSize, applicationName: `aigw-${tool.name}` }),
  );
  await dataSource.initialize();
  try {
    await requireSchema(dataSource, env.schema);
    const ran = await runMigrationsLocked(dataSource);
    if (ran.length > 0) {
      io.err(`(applied ${ran.length} pending migration(s) to schema "${env.schema}")`);
    }
    return await tool.run(cmd as Exclude<C, { kind: 'help' }>, dataSource, io);
  } finally {
    await dataSource.destroy();
  }
}

/**
 * The tools work in a schema that exists: the apps (or `npm run migration:run`) create it. Migrating would create a
 * misspelt DATABASE_SCHEMA, empty, and `keys create` then made a key that no gateway knew, with exit 0.
 */
async function requireSchema(dataSource: DataSource, schema: string): Promise<void> {
  const [{ present }] = await dataSource.query<{ present: boolean }[]>(
    'SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS present',
    [schema],
  );
  if (!present) {
    throw new Error(
      `schema "${schema}" does not exist in this database: check DATABASE_SCHEMA, or start the gateway (or run ` +
        '`npm run migration:run`) once with it to create it',
    );
  }
}
