import { readFileSync } from 'node:fs';
import { load } from 'js-yaml';
import { TierConfigError, tiersFrom, type TierTable } from './tiers';

/** Reads TIERS_FILE (`tiers: { name: { rpm, tpm, dailyRequestLimit, ... } }`); throws TierConfigError naming the file. */
export function loadTiersFile(path: string): TierTable {
  let doc: unknown;
  try {
    doc = load(readFileSync(path, 'utf8'));
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : 'unreadable');
    throw new TierConfigError([`TIERS_FILE ${path}: cannot be read or parsed (${reason})`]);
  }
  try {
    return tiersFrom(doc);
  } catch (err) {
    if (err instanceof TierConfigError) {
      throw new TierConfigError(err.problems.map((p) => `TIERS_FILE ${path}: ${p}`));
    }
    throw err;
  }
}
