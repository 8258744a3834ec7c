import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';

const run = promisify(execFile);
const SOURCE = path.resolve(__dirname, '../../libs/platform/src/lifecycle/heap-growth.ts');

/**
 * A Node process (not this Jest worker, whose V8 flags every suite shares) that keeps ~70 MB alive while it
 * promotes garbage, and reports how far its old generation grew past what survives a full GC. Its
 * --max-old-space-size pins V8's own growth factor at its maximum (4×) whatever the host's memory.
 */
const CHILD = `
const v8 = require('node:v8');
const { boundHeapGrowth } = require('./heap-growth.js');
const applied = process.env.BOUND === '1' ? boundHeapGrowth() : false;
const oldSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space');
const live = Array.from({ length: 1_000_000 }, (_, i) => ({ i, s: 'live-' + i }));
const ring = [];
let peak = 0;
for (let r = 0; r < 8000; r++) {
  ring.push(Array.from({ length: 500 }, (_, j) => ({ r, j, s: 'g-' + r + '-' + j })));
  if (ring.length > 100) ring.shift();
  peak = Math.max(peak, oldSpace().space_size);
}
ring.length = 0;
global.gc();
process.stdout.write(JSON.stringify({ applied, ratio: peak / oldSpace().space_used_size, kept: live.length }));
`;

interface Growth {
  applied: boolean;
  ratio: number;
}

describe('boundHeapGrowth', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-heap-'));
    const js = ts.transpileModule(readFileSync(SOURCE, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    writeFileSync(path.join(dir, 'heap-growth.js'), js);
    writeFileSync(path.join(dir, 'child.js'), CHILD);
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function growth(bound: boolean, nodeArgs: string[] = []): Promise<Growth> {
    const { stdout } = await run(
      process.execPath,
      ['--expose-gc', '--max-old-space-size=4096', ...nodeArgs, path.join(dir, 'child.js')],
      { env: { ...process.env, BOUND: bound ? '1' : '0', NODE_OPTIONS: '' }, cwd: dir },
    );
    return JSON.parse(stdout) as Growth;
  }

  it('keeps the old generation within ~1.5× its live size where V8 alone lets it reach several times that', async () => {
    const alone = await growth(false);
    const bounded = await growth(true);
    expect(bounded.applied).toBe(true);
    expect(alone.ratio).toBeGreaterThan(3);
    expect(bounded.ratio).toBeLessThan(2.2);
  });

  it("leaves an operator's own --heap-growing-percent in force", async () => {
    const own = await growth(true, ['--heap-growing-percent=300']);
    expect(own.applied).toBe(false);
    expect(own.ratio).toBeGreaterThan(3);
  });
});
