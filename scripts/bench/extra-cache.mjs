// Extra: the response cache. (1) A cache-hit cell: one prompt, stored once, then the same load as the main
// table directly against the simulator and through the gateway, alternating: added p50/p99, req/s, CPU per
// request of each gateway-side process, and the simulator's count (a hit must not reach it: no queue hop, no
// worker, no provider). (2) A repeated-prompt workload: requests drawn from a Zipf mix (s = 1.1) over 1,000
// prompts, a salt per run so earlier runs' entries never count: the hit rate and the provider calls saved.
import { randomBytes } from 'node:crypto';
import { median } from './measure.mjs';
import { cpuDelta, cpuSeconds, withDescendants } from './procfs.mjs';
import { CACHE_MODEL } from './system.mjs';

const SECONDS = 5;
const REPS = 3;
const CONCURRENCIES = [1, 10];
const ZIPF_PROMPTS = 1000;
const ZIPF_S = 1.1;
const ZIPF_REQUESTS = 3000;
const ZIPF_CONCURRENCY = 10;

/** Draws ranks 0..n-1 with P(k) ∝ 1/(k+1)^s (inverse CDF over a precomputed table). */
function zipfSampler(n, s) {
  const cdf = [];
  let sum = 0;
  for (let k = 1; k <= n; k++) {
    sum += 1 / k ** s;
    cdf.push(sum);
  }
  return () => {
    const u = Math.random() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

async function ask(sys, content) {
  const res = await fetch(`${sys.gatewayBase}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${sys.adminKey}` },
    body: JSON.stringify({ model: CACHE_MODEL, messages: [{ role: 'user', content }] }),
  });
  await res.arrayBuffer();
  if (res.status !== 200) {
    throw new Error(`cache bench: HTTP ${res.status} for the cached model`);
  }
  return res.headers.get('x-gateway-cache');
}

async function hitCell({ sys, loadgen, signal, log }) {
  const prompt = `cache bench ${randomBytes(6).toString('hex')}`;
  const body = JSON.stringify({ model: CACHE_MODEL, messages: [{ role: 'user', content: prompt }] });
  const first = await ask(sys, prompt);
  const second = await ask(sys, prompt);
  if (second !== 'hit') {
    throw new Error(`cache bench: the second identical request was "${second}" (first "${first}"), not a hit`);
  }
  const target = { ...sys.gateway, body };
  const rows = [];
  for (const conc of CONCURRENCIES) {
    const runs = { direct: [], gateway: [] };
    for (let rep = 0; rep < REPS; rep++) {
      runs.direct.push(await loadgen.run(sys.direct, conc, SECONDS, signal));
      const pids = withDescendants(sys.gatewaySidePids);
      const before = cpuSeconds(pids);
      const simBefore = await sys.sim.total();
      const res = await loadgen.run(target, conc, SECONDS, signal);
      const after = cpuSeconds(withDescendants(sys.gatewaySidePids));
      res.simCalls = (await sys.sim.total()) - simBefore;
      res.cpuUs = (cpuDelta(before, after) / res.requests) * 1e6;
      res.by = Object.fromEntries(
        Object.entries(sys.gatewaySide).map(([n, pid]) => [
          n,
          before.has(pid) && after.has(pid) ? ((after.get(pid) - before.get(pid)) / res.requests) * 1e6 : NaN,
        ]),
      );
      runs.gateway.push(res);
    }
    const of = (side, k) => median(runs[side].map((r) => r[k]));
    log(
      `cache hit c=${conc}: ${of('gateway', 'rps').toFixed(0)} req/s, +${(of('gateway', 'p50') - of('direct', 'p50')).toFixed(2)} ms p50`,
    );
    const by = Object.keys(sys.gatewaySide).map((n) => `${n} ${Math.round(median(runs.gateway.map((r) => r.by[n])))}`);
    rows.push(
      `| ${conc} | ${of('direct', 'rps').toFixed(0)} | ${of('gateway', 'rps').toFixed(0)} | ` +
        `${(of('gateway', 'p50') - of('direct', 'p50')).toFixed(2)} | ${(of('gateway', 'p99') - of('direct', 'p99')).toFixed(2)} | ` +
        `${Math.round(of('gateway', 'cpuUs'))} (${by.join(', ')}) | ${runs.gateway.reduce((a, r) => a + r.simCalls, 0)} | ` +
        `${runs.gateway.reduce((a, r) => a + r.non2xx + r.errors, 0)} |`,
    );
  }
  return rows;
}

async function zipfWorkload({ sys, log }) {
  const salt = randomBytes(6).toString('hex');
  const next = zipfSampler(ZIPF_PROMPTS, ZIPF_S);
  const seen = { hit: 0, miss: 0, other: 0 };
  const simBefore = await sys.sim.total();
  let sent = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: ZIPF_CONCURRENCY }, async () => {
      while (sent < ZIPF_REQUESTS) {
        sent++;
        const status = await ask(sys, `zipf ${salt} prompt ${next()}`);
        if (status === 'hit') seen.hit++;
        else if (status === 'miss') seen.miss++;
        else seen.other++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const calls = (await sys.sim.total()) - simBefore;
  const total = seen.hit + seen.miss + seen.other;
  log(`cache zipf: ${total} requests, ${seen.hit} hits, ${calls} provider calls`);
  return { total, seen, calls, seconds };
}

export const cacheBench = {
  id: 'cache',
  title: 'Response cache: hit cost and a repeated-prompt workload',
  enabled: (opts) => !opts.standIn,
  async run(ctx) {
    const rows = await hitCell(ctx);
    const z = await zipfWorkload(ctx);
    return [
      `**Cache hit** (model \`${CACHE_MODEL}\`, cache on for it in the catalog; one prompt stored, then ${REPS} × ${SECONDS} s per`,
      'cell alternating direct and gateway, medians). "added" = gateway − direct; CPU = every gateway-side process per',
      'request; "simulator calls" during the gateway runs must be 0: a hit never reaches the queue, a worker or the provider.',
      '',
      '| conc | direct req/s | gateway req/s (hits) | added p50 ms | added p99 ms | gw-side CPU µs/req (by process) | simulator calls | non2xx+err |',
      '|---:|---:|---:|---:|---:|---|---:|---:|',
      ...rows,
      '',
      `**Repeated prompts**: ${z.total} chat requests, ${ZIPF_CONCURRENCY} at a time, prompts drawn from a Zipf mix (s = ${ZIPF_S})`,
      `over ${ZIPF_PROMPTS} prompts (fresh per run), cache TTL 1 h, coalescing on. Hit rate ${((100 * z.seen.hit) / z.total).toFixed(1)}%`,
      `(${z.seen.hit} hit, ${z.seen.miss} miss${z.seen.other ? `, ${z.seen.other} other` : ''}); provider calls ${z.calls}, so ${z.total - z.calls}`,
      `calls saved (${((100 * (z.total - z.calls)) / z.total).toFixed(1)}%, coalesced followers included); ${(z.total / z.seconds).toFixed(0)} req/s.`,
    ].join('\n');
  },
};
