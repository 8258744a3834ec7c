import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const TOKENS = path.resolve(__dirname, '../../libs/core/src/routing/tokens.ts');

/**
 * A Node process (not this Jest worker, whose heap every suite shares) that loads the prompt tokenizer from its
 * TypeScript source, builds the encoder, and reports what its large-object space kept: the rank file's
 * `bpe_ranks` string (1.1 MB) lands there, and nothing else the encoder keeps does (its tables are typed arrays,
 * outside the heap). A RegExp run on a tiny subject first, so V8's last-match info holds no big string.
 */
const CHILD = `
const fs = require('node:fs');
const v8 = require('node:v8');
const ts = require(process.env.TS_PATH);
require.extensions['.ts'] = (m, file) => m._compile(ts.transpileModule(fs.readFileSync(file, 'utf8'), {
  compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
}).outputText, file);
const large = () => {
  /x/.exec('y');
  global.gc();
  global.gc();
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === 'large_object_space').space_used_size;
};
const tokens = require(process.env.TOKENS_PATH);
const before = large();
tokens.warmUpTokenizer();
const kept = large() - before;
const count = tokens.countTextTokens('Hello, world!');
process.stdout.write(JSON.stringify({ kept, count }));
`;

describe('prompt tokenizer memory', () => {
  it('keeps none of the rank file once the encoder is built, and counts on first use', async () => {
    const { stdout } = await run(process.execPath, ['--expose-gc', '-e', CHILD], {
      env: { ...process.env, NODE_OPTIONS: '', TS_PATH: require.resolve('typescript'), TOKENS_PATH: TOKENS },
      cwd: path.dirname(TOKENS),
    });
    const { kept, count } = JSON.parse(stdout) as { kept: number; count: number };
    // Before: 1,090,464 bytes (the bpe_ranks string, held through module.exports). A margin for V8's own.
    expect(kept).toBeLessThan(200_000);
    // cl100k: "Hello", ",", " world", "!".
    expect(count).toBe(4);
  });
});
