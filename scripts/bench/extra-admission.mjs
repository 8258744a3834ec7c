// Extra: what admission (rate limits and a spend budget, ADR 0004) costs a request. The same load runs
// alternately with the bench's admin key (no limits: admission does no Redis call) and with a key whose
// user has rpm/tpm limits and daily/monthly request and spend budgets high enough never to refuse, so
// every request pays the admission script on the gateway and the settlement script on the worker.
//
// Read the added CPU as the median of per-repetition differences (each "limited" run against the "open" run just
// before it) with their range: on a shared two-core host the gateway's CPU per request moves by ±150 µs at c=1 from
// one run to the next with the same key on both sides (an A/A run), so a single difference of medians says little.
import { createHash, randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { median } from './measure.mjs';
import { cpuDelta, cpuSeconds, withDescendants } from './procfs.mjs';

const SECONDS = 5;
const REPS = 3;
const CONCURRENCIES = [1, 10];
/**
 * Each key's load before the first measured run: a gateway builds its tokenizer (~60 ms of CPU, ~9 MB) on the first
 * request it charges, and V8 compiles the admission path then; measured, that one-time cost landed in the first
 * "limited" run (hundreds of µs per request at c=1).
 */
const WARM_UP_SECONDS = 2;

/** Script calls (EVALSHA, EVAL) Redis has run so far, from INFO commandstats (calls made inside a script excluded). */
async function scriptCalls(redis) {
  const info = await redis.info('commandstats');
  let calls = 0;
  for (const m of info.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+)/gm)) {
    calls += Number(m[2]);
  }
  return calls;
}

/** `[min..max]` of a list of numbers, rounded. */
const range = (xs) => `[${Math.min(...xs).toFixed(0)}..${Math.max(...xs).toFixed(0)}]`;

async function limitedKey(sys) {
  const [user] = await sys.sql(`INSERT INTO users (name) VALUES ('bench-limited') RETURNING id`);
  const key = `sk-aigw-${randomBytes(24).toString('base64url')}`;
  await sys.sql('INSERT INTO api_keys (user_id, role, key_hash, prefix, rpm, tpm) VALUES ($1, $2, $3, $4, $5, $6)', [
    user.id,
    'user',
    createHash('sha256').update(key).digest('hex'),
    key.slice(0, 16),
    100_000_000,
    1_000_000_000,
  ]);
  await sys.sql(
    `INSERT INTO user_quotas (user_id, tier, daily_request_limit, monthly_request_limit, daily_spend_limit_usd, monthly_spend_limit_usd)
     VALUES ($1, 'default', 100000000, 1000000000, 1000000, 10000000)`,
    [user.id],
  );
  return `Bearer ${key}`;
}

export const admissionBench = {
  id: 'admission',
  title: 'Admission cost (rate limits and budget vs none)',
  enabled: (opts) => !opts.standIn,
  async run({ sys, loadgen, signal, log }) {
    if (!sys.sql) {
      return 'Not applicable: the system under test has no database access.';
    }
    const limited = { ...sys.gateway, auth: await limitedKey(sys) };
    const open = sys.gateway;
    const redis = new Redis(sys.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    const rows = [];
    try {
      for (const target of [open, limited]) {
        await loadgen.run(target, 10, WARM_UP_SECONDS, signal);
      }
      for (const conc of CONCURRENCIES) {
        const runs = { open: [], limited: [] };
        for (let rep = 0; rep < REPS; rep++) {
          for (const [name, target] of [
            ['open', open],
            ['limited', limited],
          ]) {
            const pids = withDescendants(sys.gatewaySidePids);
            const scriptsBefore = await scriptCalls(redis);
            const before = cpuSeconds(pids);
            const gwBefore = cpuSeconds([sys.gatewayPid]);
            const res = await loadgen.run(target, conc, SECONDS, signal);
            const after = cpuSeconds(pids);
            const gwAfter = cpuSeconds([sys.gatewayPid]);
            const scriptsAfter = await scriptCalls(redis);
            if (res.non2xx > 0) {
              throw new Error(`admission bench: ${res.non2xx} non-2xx answers with the ${name} key`);
            }
            runs[name].push({
              p50: res.p50,
              p99: res.p99,
              rps: res.rps,
              usPerReq: (cpuDelta(before, after) / res.requests) * 1e6,
              gwUsPerReq: (cpuDelta(gwBefore, gwAfter) / res.requests) * 1e6,
              scriptsPerReq: (scriptsAfter - scriptsBefore) / res.requests,
            });
            log(`admission c=${conc} rep ${rep + 1} ${name}: ${res.rps.toFixed(0)} req/s p50 ${res.p50.toFixed(2)} ms`);
          }
        }
        const m = (side, k) => median(runs[side].map((r) => r[k]));
        // Each limited run against the open run just before it.
        const paired = (k) => runs.limited.map((r, i) => r[k] - runs.open[i][k]);
        const gw = paired('gwUsPerReq');
        const side = paired('usPerReq');
        rows.push(
          `| ${conc} | ${m('open', 'rps').toFixed(0)} | ${m('limited', 'rps').toFixed(0)} | ${(m('limited', 'p50') - m('open', 'p50')).toFixed(3)} | ${(m('limited', 'p99') - m('open', 'p99')).toFixed(2)} | ${median(gw).toFixed(0)} ${range(gw)} | ${median(side).toFixed(0)} ${range(side)} | ${median(paired('scriptsPerReq')).toFixed(2)} |`,
        );
      }
    } finally {
      redis.disconnect();
    }
    return [
      `Simulator latency 0 ms, ${SECONDS} s runs, ${REPS} alternating repetitions per cell (medians). "open" is a key`,
      'without limits (admission skips Redis); "limited" has per-key rpm/tpm and daily/monthly request and spend',
      'limits that never refuse, so each request runs the admission script (gateway) and the settlement script',
      '(worker). CPU is measured per process from /proc; "gw" is the api-gateway process alone, "side" all of',
      'api-gateway, router-worker and Redis. Each key ran a warm-up first. Added CPU: the median of the',
      'per-repetition differences (each limited run less the open run before it), [min..max] of them: a wide range',
      'is noise, not admission (an A/A run, the same key on both sides, spreads as wide at c=1). Added scripts:',
      'EVALSHA/EVAL calls per request (admission on the gateway, settlement on the worker).',
      '',
      '| conc | open req/s | limited req/s | added p50 ms | added p99 ms | added gw CPU µs/req | added side CPU µs/req | added Redis scripts/req |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...rows,
    ].join('\n');
  },
};
