#!/usr/bin/env node
// Ranks the allocation sites of the objects that outlived a scavenge (`npm run bench -- --heap-survivors DIR`):
// for each DIR/*.heapprofile, the sampled total and the stacks (innermost frames first) that allocated most of it.
// Usage: node scripts/bench/survivors-summary.mjs DIR [topN] [frames]
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
const topN = Number(process.argv[3] ?? 20);
const depth = Number(process.argv[4] ?? 5);
if (!dir) {
  console.error('usage: node scripts/bench/survivors-summary.mjs DIR [topN] [frames]');
  process.exit(2);
}

/** `fn file:line`, with node_modules and dist prefixes cut short. */
function frameOf({ functionName, url, lineNumber }) {
  const file = url.replace(/.*node_modules\//, '').replace(/.*\/dist\//, '');
  return `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
}

for (const file of readdirSync(dir)
  .filter((f) => f.endsWith('.heapprofile'))
  .sort()) {
  const profile = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
  const bySite = new Map();
  let total = 0;
  const walk = (node, stack) => {
    const frames = [frameOf(node.callFrame), ...stack].slice(0, depth);
    if (node.selfSize > 0) {
      total += node.selfSize;
      const key = frames.join(' < ');
      bySite.set(key, (bySite.get(key) ?? 0) + node.selfSize);
    }
    for (const child of node.children) {
      walk(child, frames);
    }
  };
  walk(profile.head, []);
  console.log(`\n## ${file}: ${(total / 2 ** 20).toFixed(1)} MB sampled (outlived a scavenge)\n`);
  console.log('| MB | share | allocated at (innermost first) |\n|---:|---:|---|');
  for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, topN)) {
    console.log(`| ${(bytes / 2 ** 20).toFixed(2)} | ${((100 * bytes) / total).toFixed(1)} % | ${site} |`);
  }
}
