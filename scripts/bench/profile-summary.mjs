#!/usr/bin/env node
// Summarises V8 CPU profiles (`npm run bench -- --profile DIR`): for each .cpuprofile, the share of
// samples by package (node_modules/<pkg>, the project's own dist/<lib or app>, node internals, GC, idle)
// and the top functions by self time, over the samples of the busiest TAKE seconds (default 8: the
// measured load, not shutdown) after the first PROFILE_SKIP_S seconds (default 12: start-up). Usage: node scripts/bench/profile-summary.mjs DIR [topN] [TAKE]
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
const topN = Number(process.argv[3] ?? 25);
const takeS = Number(process.argv[4] ?? 8);
const SKIP_S = Number(process.env.PROFILE_SKIP_S ?? 12);

/** Sample indexes of the window of `seconds` with the most non-idle samples (the load, not boot). */
function busiestWindow(prof, byId, seconds) {
  const times = [];
  let t = prof.startTime;
  for (const d of prof.timeDeltas) {
    t += d;
    times.push(t);
  }
  const busy = prof.samples.map((id) => (byId.get(id).callFrame.functionName === '(idle)' ? 0 : 1));
  const span = seconds * 1e6;
  let best = [0, 0];
  let count = 0;
  // Start-up (module loading, 100% busy for seconds) is never the load: skip it.
  let lo = times.findIndex((x) => x - prof.startTime > SKIP_S * 1e6);
  lo = lo < 0 ? 0 : lo;
  for (let hi = lo; hi < times.length; hi++) {
    count += busy[hi];
    while (times[hi] - times[lo] > span) count -= busy[lo++];
    if (count > (best.count ?? -1)) best = Object.assign([lo, hi + 1], { count });
  }
  return best;
}
if (!dir) {
  process.stderr.write('usage: profile-summary.mjs DIR [topN]\n');
  process.exit(2);
}

function bucketOf(node) {
  const { url, functionName } = node.callFrame;
  if (!url) {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(program)') return 'program (native, not JS)';
    return `native: ${functionName || '(anonymous)'}`;
  }
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return `npm: ${rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  if (url.startsWith('node:')) return `node: ${url.slice(5).split('/')[0]}`;
  const dist = url.indexOf('/dist/');
  if (dist >= 0) {
    const parts = url.slice(dist + 6).split('/');
    return `ours: ${parts.slice(0, parts[0] === 'apps' || parts[0] === 'libs' ? 4 : 2).join('/')}`;
  }
  return url;
}

const pct = (n, total) => `${((100 * n) / total).toFixed(1)}%`;

for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
  const prof = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const [from, to] = busiestWindow(prof, byId, takeS);
  for (const id of prof.samples.slice(from, to)) self.set(id, (self.get(id) ?? 0) + 1);
  const buckets = new Map();
  const funcs = new Map();
  let total = 0;
  let busy = 0;
  for (const [id, count] of self) {
    const node = byId.get(id);
    const b = bucketOf(node);
    buckets.set(b, (buckets.get(b) ?? 0) + count);
    total += count;
    if (b !== 'idle') {
      busy += count;
      const { functionName, url, lineNumber } = node.callFrame;
      const key = `${functionName || '(anonymous)'} ${url ? `${path.basename(url)}:${lineNumber + 1}` : ''} [${b}]`;
      funcs.set(key, (funcs.get(key) ?? 0) + count);
    }
  }
  const main = prof.nodes.find((n) => /main\.js$/.test(n.callFrame.url))?.callFrame.url ?? file;
  console.log(`\n## ${file} (${main.split('/dist/')[1] ?? main}): ${total} samples, ${pct(busy, total)} busy\n`);
  console.log('| bucket | share of busy samples |\n|---|---:|');
  for (const [b, n] of [...buckets]
    .filter(([b]) => b !== 'idle')
    .sort((a, b) => b[1] - a[1])
    .slice(0, 20)) {
    console.log(`| ${b} | ${pct(n, busy)} |`);
  }
  console.log(`\n| top functions by self time | share of busy |\n|---|---:|`);
  for (const [f, n] of [...funcs].sort((a, b) => b[1] - a[1]).slice(0, topN)) {
    console.log(`| ${f.replace(/\|/g, '\\|')} | ${pct(n, busy)} |`);
  }
}
