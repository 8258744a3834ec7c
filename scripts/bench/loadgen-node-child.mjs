// Fallback closed-loop load generator (used when wrk is not installed). Runs as its own process,
// pinned like wrk would be. Config comes as JSON in BENCH_LOADGEN (so the auth header never shows
// in `ps`); prints one `BENCH_RESULT {...}` line in the same shape as wrk-report.lua.
//
// Each of N connections sends the next request as soon as the previous answer's last byte arrived.
// Latency = request start to end of body, in microseconds, from the monotonic clock.
import { Pool } from 'undici';

const cfg = JSON.parse(process.env.BENCH_LOADGEN ?? '{}');
const url = new URL(cfg.url);
const headers = { 'content-type': 'application/json', ...(cfg.headers ?? {}) };
if (cfg.auth) {
  headers.authorization = cfg.auth;
}
const timeoutMs = cfg.timeoutS * 1000;
const pool = new Pool(url.origin, {
  connections: cfg.connections,
  pipelining: 1,
  keepAliveTimeout: 60_000,
  headersTimeout: timeoutMs,
  bodyTimeout: timeoutMs,
});

const latenciesUs = [];
const errors = { non2xx: 0, errConnect: 0, errRead: 0, errWrite: 0, errTimeout: 0 };
let requests = 0;
let stop = false;

function classify(err) {
  const code = err?.code ?? '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return 'errTimeout';
  }
  if (code === 'ECONNREFUSED' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return 'errConnect';
  }
  return code === 'EPIPE' ? 'errWrite' : 'errRead';
}

async function connectionLoop() {
  while (!stop) {
    const t0 = process.hrtime.bigint();
    try {
      const res = await pool.request({ path: url.pathname + url.search, method: 'POST', headers, body: cfg.body });
      await res.body.arrayBuffer();
      if (stop) {
        return;
      }
      latenciesUs.push(Number(process.hrtime.bigint() - t0) / 1000);
      requests++;
      if (res.statusCode < 200 || res.statusCode > 399) {
        errors.non2xx++;
      }
    } catch (err) {
      if (stop) {
        return;
      }
      errors[classify(err)]++;
      // A refused connection fails in microseconds; do not spin the CPU shared with the simulator.
      await new Promise((r) => setTimeout(r, 1));
    }
  }
}

function percentile(sorted, p) {
  if (sorted.length === 0) {
    return 0;
  }
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))];
}

const started = process.hrtime.bigint();
const loops = Array.from({ length: cfg.connections }, () => connectionLoop());
await new Promise((r) => setTimeout(r, cfg.seconds * 1000));
stop = true;
const durationUs = Number(process.hrtime.bigint() - started) / 1000;
// Requests still in flight are abandoned (as wrk does); destroying the pool ends their loops.
await pool.destroy().catch(() => {});
await Promise.allSettled(loops);

const sorted = Float64Array.from(latenciesUs).sort();
const sum = latenciesUs.reduce((a, b) => a + b, 0);
const result = {
  requests,
  durationUs: Math.round(durationUs),
  p50Us: percentile(sorted, 50),
  p90Us: percentile(sorted, 90),
  p99Us: percentile(sorted, 99),
  p999Us: percentile(sorted, 99.9),
  maxUs: sorted.length ? sorted[sorted.length - 1] : 0,
  meanUs: requests ? sum / requests : 0,
  ...errors,
};
process.stdout.write(`BENCH_RESULT ${JSON.stringify(result)}\n`);
