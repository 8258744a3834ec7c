import { rotateSecrets, type RotationSummary, type SecretBox } from '@aigw/entities';
import type { DataSource } from 'typeorm';
import type { SecretsCommand } from './args';
import type { CliOutput } from '../shared/database-cli';

/** Where a command writes (see CliOutput). */
export type SecretsOutput = CliOutput;

function total(s: RotationSummary, field: 'reencrypted' | 'current'): number {
  return s.providers[field] + s.gateways[field];
}

function split(s: RotationSummary, field: 'reencrypted' | 'current'): string {
  return `providers: ${s.providers[field]}, gateways: ${s.gateways[field]}`;
}

/** The catalog file's keys as the boot seed recorded them: secrets too, counted apart (see RotationSummary.seeded). */
const RECORDED = 'Catalog file keys recorded by the boot seed';

/** Runs one command; returns the exit code. Throws UnreadableSecretsError (nothing changed) and database errors. */
export async function runSecretsCommand(
  cmd: Exclude<SecretsCommand, { kind: 'help' }>,
  dataSource: DataSource,
  box: SecretBox,
  io: SecretsOutput,
): Promise<number> {
  const summary = await rotateSecrets(dataSource, box, { dryRun: cmd.kind === 'check' });
  const stale = total(summary, 'reencrypted');
  const current = total(summary, 'current');
  const recorded = summary.seeded;
  const removed = `${recorded.removed} (${recorded.removedOwners.join(', ')})`;
  if (cmd.kind === 'check') {
    io.out(`${stale + current} stored secret(s), all readable.`);
    io.out(`Under SECRETS_KEY: ${current} (${split(summary, 'current')}).`);
    io.out(`Under a key in SECRETS_KEY_PREVIOUS: ${stale} (${split(summary, 'reencrypted')}).`);
    io.out(
      `${RECORDED}: ${recorded.current + recorded.reencrypted + recorded.removed} (under SECRETS_KEY: ` +
        `${recorded.current}, under a key in SECRETS_KEY_PREVIOUS: ${recorded.reencrypted}).`,
    );
    if (recorded.removed > 0) {
      io.out(
        `Recorded under none of the keys: ${removed}: rotate removes them, the next boot records the file's key again.`,
      );
    }
    if (stale + recorded.reencrypted + recorded.removed > 0) {
      io.out('Re-encrypt them under SECRETS_KEY with: npm run secrets -- rotate');
    }
    return 0;
  }
  if (stale + recorded.reencrypted + recorded.removed === 0) {
    io.out(
      `Nothing to re-encrypt: all ${current} stored secret(s) and ${recorded.current} recorded catalog file key(s) ` +
        'are under SECRETS_KEY.',
    );
    return 0;
  }
  io.out(`Re-encrypted ${stale} secret(s) under SECRETS_KEY (${split(summary, 'reencrypted')}).`);
  io.out(`Already under it: ${current} (${split(summary, 'current')}).`);
  io.out(`${RECORDED}: ${recorded.reencrypted} re-encrypted, ${recorded.current} already under it.`);
  if (recorded.removed > 0) {
    io.out(`Recorded under none of the keys, removed: ${removed}: the next boot records the file's key again.`);
  }
  io.out('Every stored secret is now under SECRETS_KEY: SECRETS_KEY_PREVIOUS can be removed from every process.');
  return 0;
}
