import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TierConfigError } from './tiers';
import { loadTiersFile } from './tiers-file';

describe('loadTiersFile', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-tiers-'));
  const file = (name: string, text: string): string => {
    const p = path.join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('merges the file over the built-in tiers', () => {
    const tiers = loadTiersFile(file('ok.yaml', 'tiers:\n  free: { rpm: 5 }\n  team: { monthlySpendLimitUsd: 20 }\n'));
    expect(tiers.free).toMatchObject({ rpm: 5, tpm: 40_000 });
    expect(tiers.team).toMatchObject({ rpm: null, monthlySpendLimitUsd: 20 });
    expect(tiers.pro.rpm).toBe(300);
  });

  it.each([
    ['missing.yaml', null, /TIERS_FILE .*missing\.yaml: cannot be read or parsed \(ENOENT\)/],
    ['bad.yaml', 'tiers: [', /cannot be read or parsed/],
    ['shape.yaml', 'tiers: 3', /TIERS_FILE .*shape\.yaml: tiers must be a mapping/],
    [
      'field.yaml',
      'tiers:\n  free: { rpm: -1, burst: 2 }',
      /tiers\.free\.rpm must be an integer.*tiers\.free\.burst is not a limit/,
    ],
  ])('names the file and every problem: %s', (name, text, message) => {
    const p = text === null ? path.join(dir, name) : file(name, text);
    expect(() => loadTiersFile(p)).toThrow(TierConfigError);
    expect(() => loadTiersFile(p)).toThrow(message);
  });
});
