#!/usr/bin/env node
// What admission costs a request, step by step, in-process over dist/ (run `npm run build` first) against a Redis
// of your own (REDIS_URL, default redis://127.0.0.1:6379/0; keys under a unique prefix, deleted at the end):
//
//   REDIS_URL=redis://127.0.0.1:6401/0 node scripts/bench/admission-micro.mjs [--n 20000] [--rounds 5]
//
// CPU µs of this process per call (median of the rounds), one call at a time (c=1: each pays its own wake-up for the
// reply) and ten in flight (c=10: replies share reads), on the gateway's command connection as the apps build it
// (turn cork, late-send guard): a GET and a one-line script for scale, AdmissionStore.admit with the bench's limits
// (key rpm/tpm, daily and monthly requests and spend: the 11-key EVALSHA), the same plus its settlement (the worker's
// share), worstCaseCharge of the bench's chat body, byDeadline and the rate-limit headers. Then the Redis server's
// own µs per script call (INFO commandstats) for the admission and the settlement scripts.
import { createRequire } from 'node:module';
import path from 'node:path';
import { root } from '../lib.mjs';

const require = createRequire(import.meta.url);
const dist = (p) => require(path.join(root, 'dist', p));
const gov = dist('libs/governance/src');
const platform = dist('libs/platform/src');
const core = dist('libs/core/src');
const { worstCaseCharge } = dist('apps/api-gateway/src/admission/worst-case.js');
const { byDeadline } = dist('apps/api-gateway/src/generation/by-deadline.js');
const { rateLimitHeaders } = dist('apps/api-gateway/src/admission/rate-limit-headers.js');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg('n', 20_000);
const ROUNDS = arg('rounds', 5);

const redis = platform.createRedis(
  process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0',
  'admission-micro:cmd',
  new platform.RedisErrors(),
  { corkPerTurn: true },
);
const prefix = `admission-micro-${process.pid}`;
const keys = new gov.GovernanceKeys(prefix);
const store = new gov.AdmissionStore(redis, keys);
// The admission bench's limits (scripts/bench/extra-admission.mjs): every check applies, none refuses.
const limits = {
  ...core.NO_LIMITS,
  keyRpm: 100_000_000,
  keyTpm: 1_000_000_000,
  dailyRequestLimit: 100_000_000,
  monthlyRequestLimit: 1_000_000_000,
  dailySpendLimitUsd: 1_000_000,
  monthlySpendLimitUsd: 10_000_000,
};
let seq = 0;
const input = () => {
  const now = Date.now();
  return {
    keyId: 'bench-key',
    userId: 'bench-user',
    limits,
    tokens: 4_105,
    reserveUsd: 0.0082,
    now,
    receivedAt: now,
    requestId: `req_${seq++}`,
  };
};
const request = {
  model: 'sim-gpt',
  messages: [{ role: 'user', content: 'Say hello' }],
  options: { maxTokens: 4096 },
};
const deployment = {
  provider: { enabled: true },
  model: { enabled: true, promptPer1k: 0.001, completionPer1k: 0.002 },
};
const drain = { untilDrainEnd: () => () => {} };
let oneLine = '';

const steps = {
  'GET (scale)': () => redis.get(`${prefix}:x`),
  'EVALSHA return 1 (scale)': () => redis.evalsha(oneLine, 1, `${prefix}:x`, 1),
  'AdmissionStore.admit': () => store.admit(input()),
  'admit + settle': async () => {
    const i = input();
    const verdict = await store.admit(i);
    await store.settle(verdict.reservation, 20, 0.00005, { jobId: i.requestId, ttlMs: 120_000 }, i.receivedAt);
  },
  worstCaseCharge: async () => worstCaseCharge(request, [deployment], 4096),
  byDeadline: () => byDeadline(Promise.resolve(1), Date.now() + 60_000, () => {}, drain),
  rateLimitHeaders: async () =>
    rateLimitHeaders({
      limitRequests: 100_000_000,
      remainingRequests: 99_999_000,
      limitTokens: 1_000_000_000,
      remainingTokens: 999_000_000,
      resetMs: 12_000,
    }),
};

const cpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

async function perCall(step, n, conc) {
  let left = n;
  const t0 = cpuUs();
  await Promise.all(
    Array.from({ length: conc }, async () => {
      while (left-- > 0) {
        await step();
      }
    }),
  );
  return (cpuUs() - t0) / n;
}

/** The server's µs in EVALSHA so far (every client's: the figure is this script's own on a Redis of your own). */
async function evalshaUs() {
  const m = /^cmdstat_evalsha:calls=\d+,usec=(\d+)/m.exec(await redis.info('commandstats'));
  return m === null ? NaN : Number(m[1]);
}

async function scriptUs(step, n) {
  const before = await evalshaUs();
  await perCall(step, n, 10);
  return ((await evalshaUs()) - before) / n;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  await new Promise((resolve) => (redis.status === 'ready' ? resolve() : redis.once('ready', resolve)));
  oneLine = await redis.script('LOAD', 'return 1');
  await redis.set(keys.epoch, String(Date.now()));
  core.warmUpTokenizer();
  for (const conc of [1, 10]) {
    for (const step of Object.values(steps)) {
      await perCall(step, 2_000, conc);
    }
  }
  const rows = [];
  for (const [name, step] of Object.entries(steps)) {
    const at = { 1: [], 10: [] };
    for (let r = 0; r < ROUNDS; r++) {
      for (const conc of [1, 10]) {
        at[conc].push(await perCall(step, N, conc));
      }
    }
    rows.push(`| ${name} | ${median(at[1]).toFixed(1)} | ${median(at[10]).toFixed(1)} |`);
  }
  const admitInRedis = await scriptUs(steps['AdmissionStore.admit'], N);
  const bothInRedis = await scriptUs(steps['admit + settle'], N);
  process.stdout.write(
    [
      `CPU µs of this process per call, median of ${ROUNDS} rounds of ${N} calls:`,
      '',
      '| step | c=1 | c=10 |',
      '|---|---:|---:|',
      ...rows,
      '',
      `Redis server µs per script call (INFO commandstats): admission ${admitInRedis.toFixed(1)}, ` +
        `settlement ${(bothInRedis - admitInRedis).toFixed(1)}`,
      '',
    ].join('\n'),
  );
}

try {
  await main();
} finally {
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (found.length > 0) {
      await redis.del(...found);
    }
  } while (cursor !== '0');
  redis.disconnect();
}
