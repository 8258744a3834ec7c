import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '../..');
const LIB = join(ROOT, 'scripts', 'lib.mjs');

/**
 * `npm start` (and `npm test`) ran the whole build every time, sources changed or not. lib.mjs's `build` now skips it
 * while dist is up to date: every output present and the stamp of the last successful build matching the inputs.
 * Here on a checkout of its own, whose "build" is a script counting its runs, so that this checkout's dist is left alone.
 */
describe('npm start builds only when a source changed since the last build that succeeded', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'aigw-build-'));
    mkdirSync(join(dir, 'apps', 'gw'), { recursive: true });
    mkdirSync(join(dir, 'libs'), { recursive: true });
    writeFileSync(join(dir, 'apps', 'gw', 'main.ts'), 'export const a = 1;\n');
    writeFileSync(join(dir, 'apps', 'gw', 'main.spec.ts'), 'it("x", () => undefined);\n');
    writeFileSync(join(dir, 'libs', 'core.ts'), 'export const b = 2;\n');
    writeFileSync(join(dir, 'package-lock.json'), '{}\n');
    writeFileSync(join(dir, 'tsconfig.json'), '{}\n');
    // The stand-in build: counts its runs, writes the output, and fails while a file `fail` exists.
    writeFileSync(
      join(dir, 'fake-build.cjs'),
      [
        "const fs = require('node:fs');",
        "fs.appendFileSync('runs', 'x');",
        "if (fs.existsSync('fail')) process.exit(2);",
        "fs.mkdirSync('dist', { recursive: true });",
        "fs.writeFileSync('dist/main.js', '');",
      ].join('\n'),
    );
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** One `build()` as the scripts call it, on `dir`: whether it built, skipped, or failed. */
  function build(): 'built' | 'skipped' | 'failed' {
    const script = [
      `import { build } from ${JSON.stringify(LIB)};`,
      `build({ dir: ${JSON.stringify(dir)}, inputs: ['apps', 'libs', 'package-lock.json', 'tsconfig.json'],`,
      "  outputs: ['dist/main.js'], command: [process.execPath, ['fake-build.cjs']] });",
    ].join('\n');
    const before = runs();
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) {
      expect(r.stderr).toContain('failed (exit code 2)');
      return 'failed';
    }
    if (r.stdout.includes('> dist is up to date')) {
      expect(runs()).toBe(before);
      return 'skipped';
    }
    expect(r.stdout).toContain('> building');
    expect(runs()).toBe(before + 1);
    return 'built';
  }

  function runs(): number {
    return existsSync(join(dir, 'runs')) ? readFileSync(join(dir, 'runs'), 'utf8').length : 0;
  }

  /** Sets a file's modification time `seconds` from now (a clock-independent edit). */
  function touch(file: string, seconds: number): void {
    const t = new Date(Date.now() + seconds * 1000);
    utimesSync(join(dir, file), t, t);
  }

  it('a second start with nothing changed does not build', () => {
    expect(build()).toBe('built');
    expect(build()).toBe('skipped');
    expect(build()).toBe('skipped');
  });

  it('an edited source, tsconfig or package-lock builds again, once', () => {
    expect(build()).toBe('built');
    for (const file of ['apps/gw/main.ts', 'tsconfig.json', 'package-lock.json']) {
      touch(file, 5);
      expect(build()).toBe('built');
      expect(build()).toBe('skipped');
    }
  });

  it('a source put back to an older version (an older modification time) builds again', () => {
    expect(build()).toBe('built');
    touch('libs/core.ts', -3600);
    expect(build()).toBe('built');
  });

  it('a source added, removed or renamed builds again', () => {
    expect(build()).toBe('built');
    writeFileSync(join(dir, 'libs', 'new.ts'), 'export {};\n');
    expect(build()).toBe('built');
    renameSync(join(dir, 'libs', 'new.ts'), join(dir, 'libs', 'renamed.ts'));
    expect(build()).toBe('built');
    rmSync(join(dir, 'libs', 'renamed.ts'));
    expect(build()).toBe('built');
    expect(build()).toBe('skipped');
  });

  it('a spec, which no build reads, changes nothing', () => {
    expect(build()).toBe('built');
    touch('apps/gw/main.spec.ts', 5);
    expect(build()).toBe('skipped');
  });

  it('a build that failed leaves no stamp: the next start builds', () => {
    expect(build()).toBe('built');
    touch('apps/gw/main.ts', 5);
    writeFileSync(join(dir, 'fail'), '');
    expect(build()).toBe('failed');
    rmSync(join(dir, 'fail'));
    // dist/main.js of the build before is still there: the stamp alone says the sources changed since.
    expect(build()).toBe('built');
    expect(build()).toBe('skipped');
  });

  it('an output removed (dist deleted or half of it) builds again', () => {
    expect(build()).toBe('built');
    rmSync(join(dir, 'dist', 'main.js'));
    expect(build()).toBe('built');
    rmSync(join(dir, 'dist'), { recursive: true });
    expect(build()).toBe('built');
    expect(build()).toBe('skipped');
  });
});

/** The inputs the stamp covers are what the build reads: a directory tsconfig.build.json compiles is among them. */
describe("npm start's build inputs", () => {
  it("cover tsconfig.build.json's include", () => {
    const script = `import { BUILD_INPUTS } from ${JSON.stringify(LIB)}; console.log(JSON.stringify(BUILD_INPUTS));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    const inputs = JSON.parse(r.stdout) as string[];
    const config = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
    for (const pattern of config.include) {
      expect(inputs).toContain(pattern.split('/')[0]);
    }
    for (const file of ['package-lock.json', 'tsconfig.json', 'tsconfig.build.json']) {
      expect(inputs).toContain(file);
    }
  });
});
