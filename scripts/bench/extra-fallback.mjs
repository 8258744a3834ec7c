// Fallback success rate: the main simulator (cheapest, so every request tries it first) fails a share
// of its calls with 503; two healthy peers serve the same model. Every request should still be
// answered, through retries on the same provider or fallback to a peer.
import { FALLBACK_MODEL } from './system.mjs';

const DEFAULT_REQUESTS = 1000;
const CONCURRENCY = 20;

async function simConfig(base, patch) {
  const res = await fetch(`${base}/_sim/config`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(patch),
  });
  if (!res.ok) {
    throw new Error(`simulator refused ${JSON.stringify(patch)}: HTTP ${res.status}`);
  }
  await res.arrayBuffer();
}

async function simTotal(base) {
  const res = await fetch(`${base}/_sim/stats`);
  return (await res.json()).total;
}

export const fallbackBench = {
  id: 'fallback',
  title: 'Fallback success rate (one provider failing 30 %, two healthy peers)',
  flags: [
    { name: '--fallback-requests', value: 'N', help: `requests for the fallback bench (default ${DEFAULT_REQUESTS})` },
  ],
  enabled: (opts) => !opts.standIn,
  async run(ctx) {
    const { sys, opts, signal, log } = ctx;
    const failRate = 0.3;
    const total = Number(opts.extra?.['--fallback-requests'] ?? DEFAULT_REQUESTS);
    const bases = [sys.simBase, ...sys.peerBases];
    const before = await Promise.all(bases.map(simTotal));
    await simConfig(sys.simBase, { failRate, failStatus: [503] });
    const body = JSON.stringify({ model: FALLBACK_MODEL, messages: [{ role: 'user', content: 'Say hello' }] });
    const statuses = new Map();
    const providers = new Map();
    const attempts = new Map();
    const latencies = [];
    let next = 0;
    const started = performance.now();
    try {
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < total && !signal.aborted) {
            next++;
            const t0 = performance.now();
            const res = await fetch(`${sys.gatewayBase}/v1/chat/completions`, {
              method: 'POST',
              headers: { authorization: `Bearer ${sys.adminKey}`, 'content-type': 'application/json' },
              body,
            });
            await res.arrayBuffer();
            latencies.push(performance.now() - t0);
            statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
            const p = res.headers.get('x-gateway-provider') ?? '-';
            providers.set(p, (providers.get(p) ?? 0) + 1);
            const a = res.headers.get('x-gateway-attempts') ?? '-';
            attempts.set(a, (attempts.get(a) ?? 0) + 1);
          }
        }),
      );
    } finally {
      await simConfig(sys.simBase, { failRate: 0 });
    }
    const seconds = (performance.now() - started) / 1000;
    const after = await Promise.all(bases.map(simTotal));
    const calls = after.map((n, i) => n - before[i]);
    const done = latencies.length;
    const ok = statuses.get(200) ?? 0;
    latencies.sort((a, b) => a - b);
    const pct = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))].toFixed(1);
    log(`fallback: ${ok}/${done} answered 200`);
    const fmt = (m) =>
      [...m]
        .sort((a, b) => String(a[0]).localeCompare(String(b[0])))
        .map(([k, v]) => `${k}: ${v}`)
        .join(', ');
    return [
      `${done} requests for \`${FALLBACK_MODEL}\` at concurrency ${CONCURRENCY} through the gateway (default routing`,
      `settings: ${'`'}RETRY_MAX${'`'} 2, ${'`'}RETRY_BASE_MS${'`'} 1000, circuit breaker defaults); the main simulator`,
      `(cheapest, tried first) answers ${failRate * 100} % of its calls with 503, peer-1 and peer-2 are healthy.`,
      '',
      '| answered (200) | success rate | other statuses | answered by | x-gateway-attempts | provider calls (sim / peer-1 / peer-2) | p50 / p99 ms | req/s |',
      '|---:|---:|---|---|---|---|---|---:|',
      `| ${ok} / ${done} | ${((100 * ok) / done).toFixed(2)} % | ${fmt(new Map([...statuses].filter(([k]) => k !== 200))) || '-'} | ${fmt(providers)} | ${fmt(attempts)} | ${calls.join(' / ')} | ${pct(0.5)} / ${pct(0.99)} | ${(done / seconds).toFixed(0)} |`,
      '',
      'Retries on the failing provider (with backoff) answer most of its failures; a request whose retries',
      'also fail moves on to a peer. Five failures in a row (likely over a few hundred calls at 30 %) open the',
      "provider's circuit: peers then take its traffic until a half-open probe succeeds. p99 carries the backoff waits.",
    ].join('\n');
  },
};
