#!/usr/bin/env node
// The prompt tokenizer's cost, js-tiktoken's `Tiktoken` against our compact encoder (libs/core/src/routing/bpe.ts,
// from dist/: run `npx tsc -p tsconfig.build.json` first). Each measurement runs in a fresh `node --expose-gc`
// process, one encoder per process:
//
//   node scripts/bench/tokenizer-micro.mjs [--rounds 3] [--ms 500]
//
// Prints, per encoder (medians over the rounds): build time (loading the rank file, building the encoder and one
// encode), what the process retains after two full GCs (heapUsed, arrayBuffers, RSS, each minus the same figures
// before loading), and encode speed in characters per ms for English prose with code, Russian and Chinese text,
// plus µs per call for a short message. Token counts are printed too; they must be equal.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { root } from '../lib.mjs';

const require = createRequire(import.meta.url);
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const ENCODERS = ['js-tiktoken', 'compact'];

function repeatTo(sentences, chars) {
  let out = '';
  for (let i = 0; out.length < chars; i++) {
    out += sentences[(i * 7) % sentences.length];
  }
  return out;
}

const TEXTS = {
  ascii: repeatTo(
    [
      'The gateway routes each request to the provider that best fits the policy. ',
      'Circuit breakers keep sick providers out of rotation until probes succeed again.\n\n',
      'function add(a, b) {\n  return a + b;\n}\n',
      '{"model": "gpt-4o", "max_tokens": 256, "temperature": 0.2, "stream": true}\n',
      "Quotas reserve spend before the call and settle it afterwards; don't retry 4xx. ",
    ],
    8192,
  ),
  cyrillic: repeatTo(
    [
      'Шлюз искусственного интеллекта находится между приложениями и поставщиками моделей. ',
      'Он выбирает поставщика для каждого запроса по стоимости, задержке и качеству. ',
      'Кэш хранит ответы 24 часа. ',
    ],
    4096,
  ),
  cjk: repeatTo(
    [
      '人工智能网关是一个位于应用程序和多个大型语言模型提供商之间的服务。',
      '它根据成本、延迟和质量等策略为每个请求选择合适的提供商。',
      '缓存保存24小时。',
    ],
    2048,
  ),
};
const SHORT = 'Say this is a test!';

function child(name, roundMs) {
  const mb = (n) => n / 1048576;
  global.gc();
  global.gc();
  const before = process.memoryUsage();
  const t0 = performance.now();
  let count;
  if (name === 'js-tiktoken') {
    const { Tiktoken } = require('js-tiktoken/lite');
    const enc = new Tiktoken(require('js-tiktoken/ranks/cl100k_base'));
    count = (text) => enc.encode(text, [], []).length;
  } else {
    const { BytePairEncoder } = require(path.join(root, 'dist/libs/core/src/routing/bpe.js'));
    const enc = new BytePairEncoder(require('js-tiktoken/ranks/cl100k_base'));
    count = (text) => enc.count(text);
  }
  count('hello world');
  const buildMs = performance.now() - t0;
  global.gc();
  global.gc();
  const after = process.memoryUsage();
  const result = {
    buildMs,
    heapMB: mb(after.heapUsed - before.heapUsed),
    arrayBuffersMB: mb(after.arrayBuffers - before.arrayBuffers),
    rssMB: mb(after.rss - before.rss),
    tokens: {},
    charsPerMs: {},
  };
  for (const [kind, text] of Object.entries(TEXTS)) {
    result.tokens[kind] = count(text);
    let chars = 0;
    const start = performance.now();
    while (performance.now() - start < roundMs) {
      count(text);
      chars += text.length;
    }
    result.charsPerMs[kind] = chars / (performance.now() - start);
  }
  let calls = 0;
  const start = performance.now();
  while (performance.now() - start < roundMs) {
    count(SHORT);
    calls++;
  }
  result.shortCallUs = ((performance.now() - start) * 1000) / calls;
  process.stdout.write(JSON.stringify(result));
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

if (process.argv.includes('--child')) {
  child(arg('child'), Number(arg('ms', 500)));
} else {
  const rounds = Number(arg('rounds', 3));
  const ms = arg('ms', '500');
  const self = fileURLToPath(import.meta.url);
  const f = (n, digits = 1) => n.toFixed(digits);
  console.log(
    'encoder      build ms  heapUsed MB  arrayBuffers MB  RSS MB  ASCII c/ms  Cyrillic c/ms  CJK c/ms  short µs',
  );
  for (const name of ENCODERS) {
    const runs = [];
    for (let r = 0; r < rounds; r++) {
      const out = execFileSync(process.execPath, ['--expose-gc', self, '--child', name, '--ms', ms], { cwd: root });
      runs.push(JSON.parse(out.toString()));
    }
    const m = (pick) => median(runs.map(pick));
    console.log(
      [
        name.padEnd(12),
        f(
          m((r) => r.buildMs),
          0,
        ).padStart(8),
        f(m((r) => r.heapMB)).padStart(11),
        f(m((r) => r.arrayBuffersMB)).padStart(15),
        f(m((r) => r.rssMB)).padStart(6),
        f(
          m((r) => r.charsPerMs.ascii),
          0,
        ).padStart(10),
        f(
          m((r) => r.charsPerMs.cyrillic),
          0,
        ).padStart(13),
        f(
          m((r) => r.charsPerMs.cjk),
          0,
        ).padStart(8),
        f(
          m((r) => r.shortCallUs),
          2,
        ).padStart(8),
        `  tokens ${JSON.stringify(runs[0].tokens)}`,
      ].join('  '),
    );
  }
}
