#!/usr/bin/env node
// `npm test`: installs what is missing, builds (e2e tests spawn the built apps), runs every jest
// project against the real Redis and PostgreSQL, and ends with one summary line.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  build,
  ensureDependencies,
  requirePostgresSession,
  requireRedisPing,
  requireService,
  root,
  StartError,
} from './lib.mjs';

// The servers the suites use (libs/testing test-services.ts): TEST_* when set, the machine's own otherwise.
const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const databaseUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

try {
  ensureDependencies();
  await requireService('Redis', 'TEST_REDIS_URL', redisUrl, 6379, 'redis://[user:password@]host:port/db');
  await requireService(
    'PostgreSQL',
    'TEST_DATABASE_URL',
    databaseUrl,
    5432,
    'postgres://user:password@host:port/database',
  );
  // Something listening is not enough: Redis must answer, and the database must exist and let the user in. Otherwise
  // every suite fails on its own, hundreds of failures that never say why.
  await requireRedisPing('TEST_REDIS_URL', redisUrl);
  await requirePostgresSession('TEST_DATABASE_URL', databaseUrl);
  build();
} catch (err) {
  console.error(err instanceof StartError ? `npm test: ${err.message}` : err);
  process.exit(1);
}

const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'aigw-jest-')), 'results.json');
// --forceExit: once every suite has reported, a connection a failed test left open must not keep the run (and CI)
// waiting until its time limit; the results are already written by then.
// Four workers whatever the core count (jest's default is one fewer than the cores: one on a 2-core machine): the
// integration suites mostly wait on sockets, timers and the processes they start, so others run meanwhile. On a
// 2-core machine the whole run took 1,284 s with two workers and 594 s with four (468 suites, 2026-12-07).
const args = ['jest', '--json', `--outputFile=${out}`, '--forceExit', '--maxWorkers=4', ...process.argv.slice(2)];
const r = spawnSync('npx', args, { cwd: root, stdio: 'inherit', env: { ...process.env, NODE_ENV: 'test' } });

let summary = null;
try {
  summary = JSON.parse(readFileSync(out, 'utf8'));
} catch {
  // jest crashed before writing results; its exit code says so below.
}
if (summary) {
  const skipped = summary.numPendingTests + summary.numTodoTests;
  console.log(
    `\n${summary.numPassedTests} passed, ${summary.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ''}`,
  );
}
process.exit(r.status ?? 1);
