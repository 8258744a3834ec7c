// Pre-flight, warm-up and the direct-vs-gateway cells of the main table.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  cpuDelta,
  cpuSeconds,
  cpuTimes,
  cpuUsage,
  reapedChildrenCpuSeconds,
  startRssSampler,
  withDescendants,
} from './procfs.mjs';

/** A run is flagged when a CPU doing real work (≥ 20 % busy) lost more than this to the hypervisor. */
export const MAX_STEAL_PCT = 10;
const BUSY_PCT_FOR_STEAL = 20;
/** A run is flagged when processes that are not the bench's kept a measured core this busy. */
export const MAX_FOREIGN_PCT = 10;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function post(target) {
  const headers = { 'content-type': 'application/json', ...(target.headers ?? {}) };
  if (target.auth) {
    headers.authorization = target.auth;
  }
  const res = await fetch(target.url, {
    method: 'POST',
    headers,
    body: target.body,
    signal: AbortSignal.timeout(30_000),
  });
  return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() };
}

function acceptable(r) {
  return r.status >= 200 && r.status < 300 && r.body.includes('"choices"');
}

/**
 * One request each way must be 2xx with "choices", and the simulator's counter must move for the
 * gateway request, so a gateway that answers from elsewhere (or fast errors) cannot be measured.
 * The gateway gets a few seconds of retries: its worker may still be attaching to the queue.
 */
export async function preflight(sys, outDir, log) {
  const direct = await post(sys.direct);
  writeFileSync(path.join(outDir, 'preflight.direct.json'), JSON.stringify(direct, null, 2));
  if (!acceptable(direct)) {
    throw new Error(`pre-flight direct: HTTP ${direct.status}, body: ${direct.body.slice(0, 500)}`);
  }
  const deadline = Date.now() + 20_000;
  for (;;) {
    const before = await sys.sim.total();
    let gw;
    try {
      gw = await post(sys.gateway);
    } catch (err) {
      gw = { status: 0, headers: {}, body: `request failed: ${err instanceof Error ? err.message : String(err)}` };
    }
    const moved = (await sys.sim.total()) - before;
    writeFileSync(
      path.join(outDir, 'preflight.gateway.json'),
      JSON.stringify({ ...gw, simulatorDelta: moved }, null, 2),
    );
    if (acceptable(gw) && moved >= 1) {
      log(`pre-flight ok: direct ${direct.status}, gateway ${gw.status} (simulator +${moved})`);
      return { direct, gateway: gw, simulatorDelta: moved };
    }
    const why = acceptable(gw)
      ? `HTTP ${gw.status} but the simulator counted ${moved} requests: the gateway did not call it`
      : `HTTP ${gw.status}, body: ${gw.body.slice(0, 500)}`;
    if (Date.now() > deadline) {
      throw new Error(`pre-flight gateway: ${why}`);
    }
    log(`pre-flight gateway not ok yet (${why}); retrying`);
    await sleep(1000);
  }
}

/** The peer gateway must answer 2xx with "choices" and reach the simulator before it is measured. */
export async function preflightPeer(sys, outDir, log) {
  const before = await sys.sim.total();
  const res = await post(sys.peer.target);
  const moved = (await sys.sim.total()) - before;
  writeFileSync(path.join(outDir, 'preflight.peer.json'), JSON.stringify({ ...res, simulatorDelta: moved }, null, 2));
  if (!acceptable(res) || moved < 1) {
    throw new Error(
      `pre-flight ${sys.peer.label}: HTTP ${res.status}, simulator +${moved}, body: ${res.body.slice(0, 300)}`,
    );
  }
  log(`pre-flight ok: ${sys.peer.label} ${res.status} (simulator +${moved})`);
}

/** Median of the finite values (mean of the middle two for an even count); NaN when there are none. */
export function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) {
    return NaN;
  }
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** Largest memory the side's processes used together (each page once) over `runs`, MB; NaN when not readable. */
function togetherMb(runs) {
  const values = runs.map((r) => r.rssMax.together).filter((v) => typeof v === 'number');
  return values.length > 0 ? Math.max(...values) / 2 ** 20 : NaN;
}

function stolen(usage) {
  return Object.entries(usage)
    .filter(([, u]) => u.busyPct >= BUSY_PCT_FOR_STEAL && u.stealPct > MAX_STEAL_PCT)
    .map(([cpu, u]) => `${cpu} steal ${u.stealPct.toFixed(0)}%`);
}

function perProcess(named, before, after, requests) {
  const out = {};
  for (const [name, pid] of Object.entries(named)) {
    const start = before.get(pid);
    const end = after.get(pid);
    out[name] = start !== undefined && end !== undefined && requests > 0 ? ((end - start) / requests) * 1e6 : NaN;
  }
  return out;
}

/**
 * CPU the gateway side burns with no traffic at all (timers, queue polling, metrics), as % of one
 * core per process. It explains per-request CPU at low request rates, where it dominates.
 */
export async function measureIdle(sys, seconds) {
  const pids = withDescendants(sys.gatewaySidePids);
  const before = cpuSeconds(pids);
  const t0 = process.hrtime.bigint();
  await sleep(seconds * 1000);
  const after = cpuSeconds(withDescendants(sys.gatewaySidePids));
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  const byProcess = {};
  for (const [name, pid] of Object.entries(sys.gatewaySide)) {
    byProcess[name] = before.has(pid) && after.has(pid) ? (100 * (after.get(pid) - before.get(pid))) / elapsed : NaN;
  }
  return { seconds: elapsed, totalPct: (100 * cpuDelta(before, after)) / elapsed, byProcess };
}

/**
 * What a side of a cell is: `direct` (the simulator alone), `gateway` (ours) or `peer` (a peer gateway
 * such as Portkey, `--peer`): its target, and for the gateways the PIDs whose CPU and RSS are theirs.
 */
export function sideOf(sys, name) {
  if (name === 'direct') {
    return { target: sys.direct, measured: false };
  }
  if (name === 'peer') {
    return { ...sys.peer, measured: true };
  }
  return {
    target: sys.gateway,
    pids: sys.gatewaySidePids,
    named: sys.gatewaySide,
    rssPids: sys.rssPids,
    // Every gateway-side process (and its Redis), for the memory they use together.
    togetherPids: sys.gatewaySidePids,
    pgBackends: sys.postgresBackendPids,
    measured: true,
  };
}

/** Connections from which on a run counts as "all at the provider" (`allAtProviderPct`). */
const ALL_OUT_MIN_CONC = 10;

/**
 * The share of a run's time (%) during which at least 90 % of its connections waited on the simulator at once, from
 * the simulator's in-flight times before and after it (`inFlightMs`). Near 0 when requests flow evenly; high when
 * they move in waves: they leave for the provider together, and the gateway side has nothing to do until they are
 * back. NaN below ALL_OUT_MIN_CONC connections, where "all" is a handful of requests.
 */
export function allAtProviderPct(before, after, conc) {
  if (conc < ALL_OUT_MIN_CONC) {
    return NaN;
  }
  const threshold = Math.ceil(0.9 * conc);
  let all = 0;
  let total = 0;
  for (let i = 0; i < after.length; i++) {
    const ms = after[i] - (before[i] ?? 0);
    total += ms;
    if (i >= threshold) {
      all += ms;
    }
  }
  return total > 0 ? (100 * all) / total : NaN;
}

/** One measured run of one side; a gateway side also gets CPU, RSS and upstream counts. */
async function measuredRun(sys, loadgen, sideName, conc, seconds, signal) {
  const side = sideOf(sys, sideName);
  const target = side.target;
  const pids = side.measured ? withDescendants(side.pids) : [];
  const simBefore = side.measured ? await sys.sim.stats() : null;
  const pgPids = side.pgBackends ? await side.pgBackends() : [];
  const rss = side.measured ? startRssSampler(side.rssPids, 250, { together: side.togetherPids ?? [] }) : null;
  const cpuBefore = cpuSeconds(pids);
  const pgBefore = cpuSeconds(pgPids);
  // The client core's own work: simulator, this orchestrator and the load generator (a reaped child).
  const clientPids = [sys.simulatorPid, process.pid];
  const clientBefore = cpuSeconds(clientPids);
  const reapedBefore = reapedChildrenCpuSeconds(process.pid);
  const times0 = cpuTimes();
  const res = await loadgen.run(target, conc, seconds, signal);
  const times1 = cpuTimes();
  const run = { side: sideName, ...res, cpu: cpuUsage(times0, times1) };
  const clientSeconds =
    cpuDelta(clientBefore, cpuSeconds(clientPids)) + reapedChildrenCpuSeconds(process.pid) - reapedBefore;
  const clientCore = run.cpu[sys.clientCpu];
  run.clientBusyPct = (100 * clientSeconds) / res.seconds;
  run.clientForeignPct = clientCore ? Math.max(0, clientCore.busyPct - run.clientBusyPct) : NaN;
  if (side.measured) {
    const cpuAfter = cpuSeconds(withDescendants(side.pids));
    const pgAfter = cpuSeconds(pgPids);
    run.rssMax = rss.stop();
    const simAfter = await sys.sim.stats();
    run.upstream = simAfter.total - simBefore.total;
    run.upPerReq = res.requests > 0 ? run.upstream / res.requests : NaN;
    run.allOutPct = allAtProviderPct(simBefore.inFlightMs, simAfter.inFlightMs, conc);
    run.gwCpuSeconds = cpuDelta(cpuBefore, cpuAfter);
    run.cpuUsPerReqBy = perProcess(side.named, cpuBefore, cpuAfter, res.requests);
    run.cpuUsPerReq = res.requests > 0 ? (run.gwCpuSeconds / res.requests) * 1e6 : NaN;
    // PostgreSQL is shared and not pinned: its backends for these apps are reported on their own.
    run.pgCpuUsPerReq =
      pgPids.length > 0 && res.requests > 0 ? (cpuDelta(pgBefore, pgAfter) / res.requests) * 1e6 : NaN;
    // Whatever else ran on the gateway core (other jobs on a shared box) competed with the gateway.
    const core = run.cpu[sys.gatewayCpu];
    run.gwSideBusyPct = (100 * run.gwCpuSeconds) / res.seconds;
    run.foreignPct = core ? Math.max(0, core.busyPct - run.gwSideBusyPct) : NaN;
  }
  run.warnings = stolen(run.cpu);
  if (run.clientForeignPct > MAX_FOREIGN_PCT) {
    run.warnings.push(
      `${sideName} run: ${sys.clientCpu} ${run.clientForeignPct.toFixed(0)}% busy with other processes`,
    );
  }
  if (run.foreignPct > MAX_FOREIGN_PCT) {
    run.warnings.push(`${sideName} run: ${sys.gatewayCpu} ${run.foreignPct.toFixed(0)}% busy with other processes`);
  }
  return run;
}

/**
 * One table cell: `reps` × (direct, gateway[, peer]), each preceded by a discarded warm-up run.
 * Returns the per-run data and the medians the table shows.
 */
export async function runCell(sys, loadgen, { latencyMs, conc, reps, warmupS, durationS, signal, log }) {
  const runs = [];
  const sides = sys.peer ? ['direct', 'gateway', 'peer'] : ['direct', 'gateway'];
  for (let rep = 1; rep <= reps; rep++) {
    for (const side of sides) {
      const { target } = sideOf(sys, side);
      if (warmupS > 0) {
        await loadgen.run(target, conc, warmupS, signal);
      }
      const run = await measuredRun(sys, loadgen, side, conc, durationS, signal);
      run.rep = rep;
      runs.push(run);
      log(
        `  ${String(latencyMs).padStart(3)} ms c=${String(conc).padEnd(3)} rep ${rep} ${side.padEnd(7)} ` +
          `${run.rps.toFixed(1).padStart(9)} req/s  p50 ${run.p50.toFixed(2)} p99 ${run.p99.toFixed(2)} ms` +
          (run.non2xx + run.errors > 0 ? `  non2xx ${run.non2xx} err ${run.errors}` : '') +
          (run.warnings.length ? `  ⚠ ${run.warnings.join(', ')}` : ''),
      );
    }
  }
  const of = (side, key) => median(runs.filter((r) => r.side === side).map((r) => r[key]));
  const gwRuns = runs.filter((r) => r.side === 'gateway');
  const summary = { latencyMs, conc, reps };
  for (const key of ['rps', 'p50', 'p90', 'p99', 'p999']) {
    summary[`direct_${key}`] = of('direct', key);
    summary[`gw_${key}`] = of('gateway', key);
  }
  summary.gwNon2xx = gwRuns.reduce((a, r) => a + r.non2xx, 0);
  summary.gwErrors = gwRuns.reduce((a, r) => a + r.errors, 0);
  summary.directNon2xx = runs.filter((r) => r.side === 'direct').reduce((a, r) => a + r.non2xx + r.errors, 0);
  summary.upPerReq = of('gateway', 'upPerReq');
  summary.allOutPct = of('gateway', 'allOutPct');
  summary.cpuUsPerReq = of('gateway', 'cpuUsPerReq');
  summary.gwRssMb = Math.max(...gwRuns.map((r) => r.rssMax.gateway ?? 0)) / 2 ** 20;
  summary.workerRssMb = Math.max(...gwRuns.map((r) => r.rssMax.worker ?? 0)) / 2 ** 20;
  summary.togetherMb = togetherMb(gwRuns);
  summary.warnings = [...new Set(runs.flatMap((r) => r.warnings))];
  summary.hostLoad = {
    cpu: Object.fromEntries(
      Object.keys(gwRuns[0].cpu).map((c) => [
        c,
        {
          busyPct: median(gwRuns.map((r) => r.cpu[c]?.busyPct)),
          stealPct: median(gwRuns.map((r) => r.cpu[c]?.stealPct)),
        },
      ]),
    ),
    gwSideBusyPct: median(gwRuns.map((r) => r.gwSideBusyPct)),
    foreignPct: median(gwRuns.map((r) => r.foreignPct)),
    clientForeignPct: {
      direct: median(runs.filter((r) => r.side === 'direct').map((r) => r.clientForeignPct)),
      gateway: median(gwRuns.map((r) => r.clientForeignPct)),
    },
    pgCpuUsPerReq: median(gwRuns.map((r) => r.pgCpuUsPerReq)),
    cpuUsPerReqBy: Object.fromEntries(
      Object.keys(sys.gatewaySide).map((name) => [name, median(gwRuns.map((r) => r.cpuUsPerReqBy[name]))]),
    ),
  };
  if (sys.peer) {
    const peerRuns = runs.filter((r) => r.side === 'peer');
    for (const key of ['rps', 'p50', 'p90', 'p99', 'p999']) {
      summary[`peer_${key}`] = of('peer', key);
    }
    summary.peerNon2xx = peerRuns.reduce((a, r) => a + r.non2xx + r.errors, 0);
    summary.peerUpPerReq = of('peer', 'upPerReq');
    summary.peerAllOutPct = of('peer', 'allOutPct');
    summary.peerCpuUsPerReq = of('peer', 'cpuUsPerReq');
    summary.peerRssMb = Math.max(...peerRuns.map((r) => r.rssMax.gateway ?? 0)) / 2 ** 20;
    summary.peerTogetherMb = togetherMb(peerRuns);
  }
  summary.dp50Range = gwRuns.map((g) => g.p50 - runs.find((d) => d.side === 'direct' && d.rep === g.rep).p50);
  return { summary, runs };
}
