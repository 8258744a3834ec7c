import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModuleKind, ScriptTarget, transpileModule } from 'typescript';
import { instantOf } from './instant';

const iso = (text: string): string | null => instantOf(text)?.toISOString() ?? null;

describe('instantOf', () => {
  it('reads a date or a date-time without a zone as UTC', () => {
    expect(iso('2026-12-05')).toBe('2026-12-05T00:00:00.000Z');
    expect(iso('2026-12')).toBe('2026-12-01T00:00:00.000Z');
    expect(iso('2026')).toBe('2026-01-01T00:00:00.000Z');
    expect(iso('2026-12-05T11:00:00')).toBe('2026-12-05T11:00:00.000Z');
    expect(iso('2026-12-05T11:00')).toBe('2026-12-05T11:00:00.000Z');
    expect(iso('2026-12-05 11:00:00.1234')).toBe('2026-12-05T11:00:00.123Z');
  });

  it('applies the zone a date-time names', () => {
    expect(iso('2026-12-05T11:00:00Z')).toBe('2026-12-05T11:00:00.000Z');
    expect(iso('2026-12-05T11:00:00+09:00')).toBe('2026-12-05T02:00:00.000Z');
    expect(iso('2026-12-05T11:00:00+0900')).toBe('2026-12-05T02:00:00.000Z');
    expect(iso('2026-12-05T11:00:00+09')).toBe('2026-12-05T02:00:00.000Z');
    expect(iso('2026-12-05T01:30:00-05:30')).toBe('2026-12-05T07:00:00.000Z');
    expect(iso('2026-01-01T01:00:00+02:00')).toBe('2025-12-31T23:00:00.000Z');
  });

  it('takes years before 100 as they are (Date.UTC would make 0050 into 1950)', () => {
    expect(instantOf('0050-06-01')?.getUTCFullYear()).toBe(50);
  });

  it.each([
    'yesterday',
    '',
    '2026-13-01',
    '2026-02-30',
    '2026-02-29',
    '2026-12-05T24:00:00Z',
    '2026-12-05T11:60',
    '2026-12-05T11',
    '2026-12-05T11:00:00+24:00',
    '2026-W49-1',
    '2026-339',
    '20261205',
    '2026-12-05t11:00:00z',
    ' 2026-12-05',
  ])('refuses %j', (text) => {
    expect(instantOf(text)).toBeNull();
  });

  it('knows leap days', () => {
    expect(iso('2028-02-29')).toBe('2028-02-29T00:00:00.000Z');
    expect(iso('2000-02-29')).toBe('2000-02-29T00:00:00.000Z');
    expect(iso('1900-02-29')).toBeNull();
  });

  it('reads the same instants in a process whose local time is not UTC', () => {
    // The module has no imports: transpiled, it runs as is in a child with TZ set before its first Date.
    const source = readFileSync(join(__dirname, 'instant.ts'), 'utf8');
    const js = transpileModule(source, {
      compilerOptions: { module: ModuleKind.CommonJS, target: ScriptTarget.ES2022 },
    }).outputText;
    const texts = ['2026-12-05T11:00:00', '2026-12-05', '2026-06-30T23:30', '2026-12-05T11:00:00+09:00'];
    const script = `const module = { exports: {} }; const exports = module.exports;\n${js}\n
      const local = new Date(2026, 11, 5, 11).toISOString();
      console.log(JSON.stringify({ local, read: ${JSON.stringify(texts)}.map((t) => module.exports.instantOf(t).toISOString()) }));`;
    for (const tz of ['Asia/Tokyo', 'America/Los_Angeles']) {
      const out = JSON.parse(
        execFileSync(process.execPath, ['-e', script], { env: { ...process.env, TZ: tz }, encoding: 'utf8' }),
      ) as { local: string; read: string[] };
      // The child really runs in another zone: its local 11:00 is not 11:00 UTC.
      expect(out.local).not.toBe('2026-12-05T11:00:00.000Z');
      expect(out.read).toEqual([
        '2026-12-05T11:00:00.000Z',
        '2026-12-05T00:00:00.000Z',
        '2026-06-30T23:30:00.000Z',
        '2026-12-05T02:00:00.000Z',
      ]);
    }
  });
});
