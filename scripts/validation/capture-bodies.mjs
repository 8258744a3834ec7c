#!/usr/bin/env node
// Collects every request body the integration suites send to the generation endpoints, for the differential
// test of the fast validation path (apps/api-gateway/src/validation/fast-accept/differential.spec.ts).
//
//   node scripts/validation/capture-bodies.mjs [jest test paths...]
//
// Runs the suites (default: those that call the endpoints; the e2e ones need `npm run build` first) with a
// fetch wrapper that records each POSTed body, then adds the parseable ones of a shape not kept yet to
// apps/api-gateway/src/validation/fast-accept/test-suite-bodies.json. Suites that fail still contribute.
// The shape ignores what no validation rule reads (the text of free strings, kept by length class, spaces and
// name-likeness); strings over 1,024 characters are cut there (the DTOs' longest limit is 512).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { root } from '../lib.mjs';

const DEFAULT_SUITES = [
  'test/gateway',
  'test/e2e',
  'test/routing-e2e',
  'test/governance/limits-e2e.test.ts',
  'test/governance/redis-down.test.ts',
  'test/health',
  'test/simulator',
  'test/worker/generate.test.ts',
];
const OUT = path.join(root, 'apps/api-gateway/src/validation/fast-accept/test-suite-bodies.json');
const KEYS = {
  '/v1/chat/completions': 'chatCompletions',
  '/v1/messages': 'messages',
  '/v1/embeddings': 'embeddings',
  '/api/v1/ai/generate': 'generate',
  '/api/v1/ai/jobs': 'generate',
};

const MAX_STRING = 1024;

/** What validation can tell apart: enum-like strings verbatim, other strings by length class and kind. */
function shape(v) {
  if (typeof v === 'string') {
    if (/^[a-z_-]{0,20}$/.test(v)) return v;
    const size = v.length <= 64 ? 64 : v.length <= 128 ? 128 : v.length <= 512 ? 512 : 'long';
    return `<${size}${/\s/.test(v) ? ' spaced' : ''}${/^[a-zA-Z0-9_-]+$/.test(v) ? ' name' : ''}>`;
  }
  if (Array.isArray(v)) return v.map(shape);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, c]) => [k, shape(c)]));
  return v;
}

function cut(v) {
  if (typeof v === 'string') return v.length > MAX_STRING ? v.slice(0, MAX_STRING) : v;
  if (Array.isArray(v)) return v.map(cut);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, c]) => [k, cut(c)]));
  return v;
}

const args = process.argv.slice(2);
const rebuildOnly = args[0] === '--rebuild'; // only re-shape the file as it is
const suites = args.length > 0 ? args : DEFAULT_SUITES;
const dir = mkdtempSync(path.join(os.tmpdir(), 'capture-bodies-'));
const file = path.join(dir, 'bodies.jsonl');
const jest = rebuildOnly
  ? { status: 'skipped' }
  : spawnSync(
      'npx',
      [
        'jest',
        '--config',
        'scripts/validation/capture.jest.config.js',
        '--selectProjects',
        'integration',
        '--runInBand',
        ...suites,
      ],
      { cwd: root, stdio: 'inherit', env: { ...process.env, CAPTURE_BODIES_FILE: file } },
    );
process.stderr.write(`[capture] jest exited with ${jest.status}\n`);

const previous = existsSync(OUT) ? JSON.parse(readFileSync(OUT, 'utf8')) : {};
const seen = new Map(Object.values(KEYS).map((k) => [k, new Map()]));
function keep(endpointKey, body) {
  const kept = seen.get(endpointKey);
  const key = JSON.stringify(shape(body));
  if (kept && !kept.has(key)) kept.set(key, cut(body));
}
for (const [key, bodies] of Object.entries(previous)) {
  for (const body of bodies) keep(key, body);
}
let captured = 0;
for (const line of existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []) {
  const { endpoint, body } = JSON.parse(line);
  let parsed;
  try {
    parsed = JSON.parse(body);
  } catch {
    continue; // never reaches validation: the JSON parser answers 400 first
  }
  captured++;
  keep(KEYS[endpoint], parsed);
}
const out = Object.fromEntries([...seen].map(([k, m]) => [k, [...m.values()]]));
writeFileSync(OUT, `${JSON.stringify(out, null, 2)}\n`);
spawnSync('npx', ['prettier', '--write', OUT], { cwd: root, stdio: 'inherit' });
rmSync(dir, { recursive: true, force: true });
process.stderr.write(
  `[capture] ${captured} bodies captured; distinct: ${[...seen].map(([k, m]) => `${k} ${m.size}`).join(', ')}\n`,
);
