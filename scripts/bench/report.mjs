// The Markdown report: a header with the machine and the exact command, the direct-vs-gateway
// table, then any extra sections.

const ms = (v) => (Number.isFinite(v) ? v.toFixed(2) : '–');
const delta = (v) => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${v.toFixed(2)}` : '–');
const rps = (v) => (Number.isFinite(v) ? v.toFixed(1) : '–');
const mb = (v) => (Number.isFinite(v) ? v.toFixed(0) : '–');

export const TABLE_COLUMNS = [
  'mock ms',
  'conc',
  'direct RPS',
  'gw RPS',
  'direct p50',
  'gw p50',
  'Δp50',
  'direct p90',
  'gw p90',
  'Δp90',
  'direct p99',
  'gw p99',
  'Δp99',
  'gw non2xx/err',
  'up/req',
  'gw-side CPU µs/req',
  'gw RSS MB',
  'worker RSS MB',
  'gw side together MB',
];

function row(s, hasWorker) {
  return [
    s.latencyMs,
    `${s.conc}${s.warnings.length ? ' ⚠' : ''}`,
    rps(s.direct_rps),
    rps(s.gw_rps),
    ms(s.direct_p50),
    ms(s.gw_p50),
    delta(s.gw_p50 - s.direct_p50),
    ms(s.direct_p90),
    ms(s.gw_p90),
    delta(s.gw_p90 - s.direct_p90),
    ms(s.direct_p99),
    ms(s.gw_p99),
    delta(s.gw_p99 - s.direct_p99),
    `${s.gwNon2xx}/${s.gwErrors}`,
    Number.isFinite(s.upPerReq) ? s.upPerReq.toFixed(2) : '–',
    Number.isFinite(s.cpuUsPerReq) ? Math.round(s.cpuUsPerReq) : '–',
    s.gwRssMb.toFixed(0),
    hasWorker ? s.workerRssMb.toFixed(0) : '–',
    mb(s.togetherMb),
  ];
}

export function table(summaries, hasWorker) {
  const lines = [
    `| ${TABLE_COLUMNS.join(' | ')} |`,
    `|${TABLE_COLUMNS.map(() => '---:').join('|')}|`,
    ...summaries.map((s) => `| ${row(s, hasWorker).join(' | ')} |`),
  ];
  return lines.join('\n');
}

function idleLine(idle) {
  if (!idle) {
    return 'not measured';
  }
  const parts = Object.entries(idle.byProcess).map(([n, v]) => `${n} ${v.toFixed(1)}%`);
  return `${idle.totalPct.toFixed(1)}% of one core over ${idle.seconds.toFixed(0)} s without traffic (${parts.join(', ')})`;
}

/** The host calibration's header line (scripts/bench/host-calibration.mjs). */
export function calibrationLine(host) {
  if (!host) {
    return 'not measured';
  }
  return (
    `compute ${host.computeUs.toFixed(2)} µs per JSON round trip of the request body; ` +
    `hand-off ${host.handOffUs.toFixed(1)} µs per loopback round trip between two processes on the gateway core; ` +
    `cross-core wake ${host.wakeUs.toFixed(0)} µs per round trip to the gateway core after ${host.wakeIdleMs} ms idle` +
    (host.pinned ? '' : ' (not pinned)')
  );
}

export function header(meta) {
  const lines = [
    `# Gateway benchmark: direct vs through the gateway`,
    '',
    `- date: ${meta.date}`,
    `- command: \`${meta.command}\``,
    `- system under test: ${meta.systemLabel} (${meta.build})`,
    `- machine: ${meta.nproc} CPU (${meta.cpuModel}), Linux ${meta.kernel}, Node ${meta.node}, ${meta.redis}`,
    `- load generator: ${meta.loadgen}`,
    `- placement: ${meta.placement}`,
    `- method: ${meta.method}`,
    `- gateway side at idle (after warm-up): ${idleLine(meta.idle)}`,
    `- host calibration (before the cells): ${calibrationLine(meta.host)}`,
  ];
  return lines.join('\n');
}

const pct = (v) => (Number.isFinite(v) ? `${v.toFixed(0)}%` : '–');

/** CPU use during the gateway runs: shows whether the gateway core was saturated or shared. */
export function hostLoadTable(summaries) {
  const cpus = Object.keys(summaries[0]?.hostLoad.cpu ?? {});
  const names = Object.keys(summaries[0]?.hostLoad.cpuUsPerReqBy ?? {});
  const cols = [
    'mock ms',
    'conc',
    ...cpus.map((c) => `${c} busy/steal`),
    'gw side',
    'other on gw core',
    'other on client core (direct/gw run)',
    ...names.map((n) => `${n} µs/req`),
    'PostgreSQL µs/req',
    'all at provider',
  ];
  return [
    `| ${cols.join(' | ')} |`,
    `|${cols.map(() => '---:').join('|')}|`,
    ...summaries.map((s) => {
      const h = s.hostLoad;
      const perCpu = cpus.map((c) => `${pct(h.cpu[c]?.busyPct)}/${pct(h.cpu[c]?.stealPct)}`);
      const us = (v) => (Number.isFinite(v) ? Math.round(v) : '–');
      const byName = names.map((n) => us(h.cpuUsPerReqBy[n]));
      const client = `${pct(h.clientForeignPct.direct)}/${pct(h.clientForeignPct.gateway)}`;
      const cells = [s.latencyMs, s.conc, ...perCpu, pct(h.gwSideBusyPct), pct(h.foreignPct), client, ...byName];
      return `| ${[...cells, us(h.pgCpuUsPerReq), pct(s.allOutPct)].join(' | ')} |`;
    }),
  ].join('\n');
}

export function notes(summaries, reps) {
  const out = [
    '',
    'Latencies in ms; Δ = gateway − direct of the medians. gw-side CPU = user+system time of every',
    'gateway-side process (see "system under test") per completed gateway request.',
    'up/req = simulator requests / gateway requests in the measured window (≈1.00: no retries).',
    'RSS = the maximum during the measured runs. "gw side together" = the memory every gateway-side process',
    '(Redis included) takes from the host with each page counted once, from /proc/<pid>/pagemap: RSS counts',
    "the node binary's ~50 MB in every Node process that maps it, so the RSS columns' sum counts it twice",
    '(– where the kernel hides page frame numbers: it needs root).',
    '',
    'CPU use during the gateway runs (busy/steal per CPU; "gw side" = gateway-side processes as % of one',
    'core; "other on … core" = the rest of that core\'s busy time, i.e. processes that are not the bench\'s;',
    '"PostgreSQL µs/req" = CPU of the database backends serving the apps, shared and not pinned, so not',
    'in the gw-side column; "all at provider" = share of the run with ≥ 90 % of the connections waiting on',
    'the simulator at once (from 10 connections): high when requests move in waves and the gateway core idles',
    'while they are away, near 0 when they flow evenly):',
    '',
    hostLoadTable(summaries),
  ];
  if (reps > 1) {
    out.push('', 'Δp50 per repetition (noise indicator):');
    for (const s of summaries) {
      out.push(`- ${s.latencyMs} ms, c=${s.conc}: ${s.dp50Range.map(delta).join(', ')}`);
    }
  }
  const flagged = summaries.filter((s) => s.warnings.length > 0);
  if (flagged.length > 0) {
    out.push('', '⚠ noisy cells: hypervisor steal, or other processes on the gateway core (rerun to confirm):');
    for (const s of flagged) {
      out.push(`- ${s.latencyMs} ms, c=${s.conc}: ${s.warnings.join('; ')}`);
    }
  }
  const directErrors = summaries.filter((s) => s.directNon2xx > 0);
  for (const s of directErrors) {
    out.push(`- direct side had ${s.directNon2xx} non-2xx/errors at ${s.latencyMs} ms, c=${s.conc}`);
  }
  return out.join('\n');
}

const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : '–');

/**
 * `--peer`: our gateway side and the peer in the same cells (same simulator, load generator and core),
 * with the ratios the performance targets are stated in.
 */
export function peerTable(summaries, label) {
  const cols = [
    'mock ms',
    'conc',
    'ours RPS',
    'peer RPS',
    'RPS ours/peer',
    'ours Δp50',
    'peer Δp50',
    'ours Δp99',
    'peer Δp99',
    'ours CPU µs/req',
    'peer CPU µs/req',
    'ours RSS MB (gw+worker)',
    'peer RSS MB',
    'ours together MB (gw+worker+Redis)',
    'peer together MB',
    'ours/peer non2xx+err',
    'all at provider ours/peer',
  ];
  const us = (v) => (Number.isFinite(v) ? Math.round(v) : '–');
  return [
    `Peer: ${label}, pinned to the same core as our gateway side and measured in the same cells, alternating`,
    'direct / ours / peer. Δ = side − direct of the medians, ms. Our CPU counts api-gateway, router-worker and',
    'their Redis; the peer is one process. RSS is the maximum during the measured runs. "Together" = the memory',
    "the side's processes take from the host with each page counted once (/proc/<pid>/pagemap; RSS counts the",
    'node binary once per Node process), the maximum of reads once a second during the measured runs.',
    '"All at provider": share of the run with ≥ 90 % of the connections waiting on the simulator at once.',
    '',
    `| ${cols.join(' | ')} |`,
    `|${cols.map(() => '---:').join('|')}|`,
    ...summaries
      .map((s) =>
        [
          s.latencyMs,
          s.conc,
          rps(s.gw_rps),
          rps(s.peer_rps),
          ratio(s.gw_rps, s.peer_rps),
          delta(s.gw_p50 - s.direct_p50),
          delta(s.peer_p50 - s.direct_p50),
          delta(s.gw_p99 - s.direct_p99),
          delta(s.peer_p99 - s.direct_p99),
          us(s.cpuUsPerReq),
          us(s.peerCpuUsPerReq),
          (s.gwRssMb + s.workerRssMb).toFixed(0),
          Number.isFinite(s.peerRssMb) ? s.peerRssMb.toFixed(0) : '–',
          mb(s.togetherMb),
          mb(s.peerTogetherMb),
          `${s.gwNon2xx + s.gwErrors}/${s.peerNon2xx}`,
          `${pct(s.allOutPct)}/${pct(s.peerAllOutPct)}`,
        ].join(' | '),
      )
      .map((r) => `| ${r} |`),
  ].join('\n');
}
