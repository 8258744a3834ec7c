// `--paired-root DIR` and/or `--paired-node-options "..."`: a before/after comparison that a noisy host cannot
// tip. A second gateway side B (another checkout's built dist, or this one with other V8 options) runs on the
// same core as this run's side A, and both are loaded at the same time, each by its own load generator with the
// same connections: whatever else the host does (hypervisor steal, other tenants, frequency) falls on both alike.
// What is compared is CPU time per request (and memory), not latency or throughput, which the two sides' sharing
// of the core makes meaningless. Only for two builds of this gateway: a gateway built differently (Portkey) sits
// at another operating point when it shares the core, so its CPU per request there is not its own.
// Run back to back, the same build differs by 10-30 % on a shared host; paired, an A/A run's median is within
// ~1 % (docs/benchmarks.md, "Paired runs").
import { numberList } from './cli.mjs';
import { median } from './measure.mjs';
import { cpuDelta, cpuSeconds, startRssSampler, withDescendants } from './procfs.mjs';

/** Seconds both sides run together before the first cell (c=10), so that B does not start cold. */
const WARMUP_S = 30;
const mb = (bytes) => (Number.isFinite(bytes) ? (bytes / 2 ** 20).toFixed(0) : '–');
const signed = (v) => `${v >= 0 ? '+' : ''}${v.toFixed(1)} %`;

/** A list flag of the paired bench, parsed as the CLI parses --conc and --latency; `fallback` when not given. */
function numbers(opts, flag, fallback) {
  const raw = opts.extra[flag];
  return raw === undefined ? fallback : numberList(flag, raw);
}

/** CPU, requests and memory of one side over one concurrent run. */
async function loadSide(side, loadgen, conc, seconds, signal) {
  const pids = withDescendants(side.gatewaySidePids);
  const rss = startRssSampler(side.rssPids, 250, { together: side.gatewaySidePids });
  const before = cpuSeconds(pids);
  const res = await loadgen.run(side.gateway, conc, seconds, signal);
  const cpu = cpuDelta(before, cpuSeconds(withDescendants(side.gatewaySidePids)));
  const mem = rss.stop();
  return {
    requests: res.requests,
    rps: res.rps,
    failed: res.non2xx + res.errors,
    usPerReq: res.requests > 0 ? (cpu / res.requests) * 1e6 : NaN,
    rss: (mem.gateway ?? 0) + (mem.worker ?? 0),
    together: mem.together ?? NaN,
  };
}

export const pairedBench = {
  id: 'paired',
  title: 'Paired: two gateway sides on one core, loaded at the same time',
  flags: [
    {
      name: '--paired-root',
      value: 'DIR',
      help: 'also compare with the built checkout in DIR (side B), loaded at the same time on the same core',
    },
    {
      name: '--paired-node-options',
      value: 'OPTS',
      help: "side B's extra V8/Node options (with or without --paired-root)",
    },
    { name: '--paired-conc', value: 'LIST', help: 'connections per side in the paired bench (default "10 100")' },
    { name: '--paired-latency', value: 'LIST', help: 'simulator latencies in the paired bench (default 0)' },
    { name: '--paired-reps', value: 'N', help: 'paired runs per cell (default 3)' },
  ],
  enabled: (opts) =>
    ['--paired-root', '--paired-node-options'].some((f) => opts.extra?.[f] !== undefined) && !opts.standIn,
  async run({ sys, loadgen, opts, signal, log, startSystem }) {
    const bRoot = opts.extra['--paired-root'];
    const bOptions = opts.extra['--paired-node-options'] ?? opts.nodeOptions;
    const concs = numbers(opts, '--paired-conc', [10, 100]).map((n) => Math.max(1, Math.round(n)));
    const latencies = numbers(opts, '--paired-latency', [0]);
    const reps = Math.max(1, Math.round(Number(opts.extra['--paired-reps'] ?? 3)));
    const seconds = opts.durationS;
    const b = await startSystem({ root: bRoot, nodeOptions: bOptions, name: 'paired-b' });
    const bLabel = `${bRoot ? `the checkout in ${bRoot}` : 'this checkout'}${bOptions ? ` with ${bOptions}` : ''}`;
    const sides = { A: sys, B: b };
    log(`paired: side B = ${bLabel}`);
    // B starts cold while A has run the main table: both run together until the JIT has settled on each.
    await Promise.all([sys, b].map((side) => loadgen.run(side.gateway, 10, WARMUP_S, signal)));
    const rows = [];
    const cells = [];
    for (const latencyMs of latencies) {
      await Promise.all([sys.sim.setLatency(latencyMs), b.sim.setLatency(latencyMs)]);
      for (const conc of concs) {
        const both = (s) => Promise.all(['A', 'B'].map((k) => loadSide(sides[k], loadgen, conc, s, signal)));
        await both(Math.max(3, opts.warmupS));
        const ratios = [];
        for (let rep = 1; rep <= reps; rep++) {
          const [a, bb] = await both(seconds);
          const ratio = bb.usPerReq / a.usPerReq;
          ratios.push(ratio);
          rows.push(
            `| ${latencyMs} | ${conc} | ${rep} | ${a.rps.toFixed(0)} / ${bb.rps.toFixed(0)} | ` +
              `${Math.round(a.usPerReq)} / ${Math.round(bb.usPerReq)} | ${signed(100 * (ratio - 1))} | ` +
              `${mb(a.rss)} / ${mb(bb.rss)} | ${mb(a.together)} / ${mb(bb.together)} | ${a.failed} / ${bb.failed} |`,
          );
          log(`paired ${latencyMs} ms c=${conc} rep ${rep}: B/A CPU per request ${ratio.toFixed(3)}`);
        }
        cells.push({ latencyMs, conc, ratios });
      }
    }
    await Promise.all([sys.sim.setLatency(0), b.sim.setLatency(0)]);
    const pct = (r) => signed(100 * (r - 1));
    return [
      `A = this run's gateway side${opts.nodeOptions ? ` (node ${opts.nodeOptions})` : ''}; B = ${bLabel}.`,
      `Both on the gateway core, each with its own Redis, simulator and schema, loaded at the same time (${seconds} s`,
      'per run, the same connections each). CPU = user+system time of api-gateway, router-worker and Redis per',
      'completed request; memory = the largest RSS sum (gw+worker) and the largest "together" (each page once, Redis',
      'included).',
      "Request rates are shown only to tell the runs apart: two sides sharing one core set each other's.",
      '',
      '| mock ms | conc | run | req/s A / B | CPU µs/req A / B | B vs A | RSS MB A / B | together MB A / B | failed A / B |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...rows,
      '',
      ...cells.map(
        (c) =>
          `- ${c.latencyMs} ms, c=${c.conc}: B's CPU per request ${pct(median(c.ratios))} against A ` +
          `(median of ${c.ratios.length}; ${c.ratios.map(pct).join(', ')})`,
      ),
    ].join('\n');
  },
};
