// `--soak MIN`: a steady load for MIN minutes (50 ms provider, a fixed number of connections, below
// saturation) with the RSS of every gateway-side process sampled each minute: memory must stay flat.
// With --peer, the peer gets the same soak afterwards.
import Redis from 'ioredis';
import { residentBytesTogether, rssBytes } from './procfs.mjs';

const CONNECTIONS = 20;
const LATENCY_MS = 50;
const STEP_S = 60;

const mb = (bytes) => (bytes / 2 ** 20).toFixed(0);

/** Redis's dataset (INFO memory `used_memory`): what it holds, unlike its RSS, which jemalloc rarely gives back. */
async function redisUsedBytes(redis) {
  const info = await redis.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? 0);
}

async function soak({ target, named, minutes, loadgen, signal, log, label, redis }) {
  const names = Object.keys(named);
  const rows = [];
  const totals = [];
  const togethers = [];
  for (let minute = 1; minute <= minutes && !signal.aborted; minute++) {
    // Memory is read halfway through the minute, under load.
    let rss = [];
    let together = null;
    const read = setTimeout(
      () => {
        rss = names.map((n) => rssBytes(named[n]) ?? 0);
        together = residentBytesTogether(Object.values(named));
      },
      (STEP_S * 1000) / 2,
    );
    const res = await loadgen.run(target, CONNECTIONS, STEP_S, signal).finally(() => clearTimeout(read));
    const total = rss.reduce((a, b) => a + b, 0);
    totals.push(total);
    if (together !== null) {
      togethers.push(together);
    }
    const used = redis ? mb(await redisUsedBytes(redis)) : '–';
    log(`soak ${label}: minute ${minute}/${minutes}: ${res.rps.toFixed(0)} req/s, RSS ${mb(total)} MB`);
    rows.push(
      `| ${label} | ${minute} | ${res.rps.toFixed(0)} | ${res.p99.toFixed(1)} | ${res.non2xx + res.errors} | ` +
        `${rss.map(mb).join(' / ')} | ${mb(total)} | ${together === null ? '–' : mb(together)} | ${used} |`,
    );
  }
  const half = Math.floor(totals.length / 2);
  const firstHalf = totals.slice(0, Math.max(1, half));
  const secondHalf = totals.slice(half);
  const avg = (v) => v.reduce((a, b) => a + b, 0) / v.length;
  const drift = avg(secondHalf) - avg(firstHalf);
  return {
    rows,
    names,
    drift,
    max: Math.max(...totals),
    togetherMax: togethers.length > 0 ? Math.max(...togethers) : null,
  };
}

export const soakBench = {
  id: 'soak',
  title: 'Soak: memory over time at a steady rate',
  flags: [
    {
      name: '--soak',
      value: 'MIN',
      help: 'also run a soak of MIN minutes (RSS each minute; with --peer, the peer too)',
    },
  ],
  enabled: (opts) => Number(opts.extra?.['--soak']) > 0 && !opts.standIn,
  async run({ sys, loadgen, opts, signal, log }) {
    const minutes = Math.round(Number(opts.extra['--soak']));
    await sys.sim.setLatency(LATENCY_MS);
    const out = [];
    const redis = sys.redisUrl ? new Redis(sys.redisUrl, { maxRetriesPerRequest: 1 }) : null;
    try {
      const ours = await soak({
        redis,
        target: sys.gateway,
        named: { ...sys.rssPids, redis: sys.gatewaySide.redis },
        minutes,
        loadgen,
        signal,
        log,
        label: 'ours',
      });
      out.push({ label: 'ours', ...ours });
      if (sys.peer) {
        const peer = await soak({
          target: sys.peer.target,
          named: sys.peer.named,
          minutes,
          loadgen,
          signal,
          log,
          label: sys.peer.label,
        });
        out.push({ label: sys.peer.label, ...peer });
      }
    } finally {
      redis?.disconnect();
      await sys.sim.setLatency(0);
    }
    return [
      `${CONNECTIONS} connections, simulator latency ${LATENCY_MS} ms, ${minutes} × ${STEP_S} s back to back; memory read`,
      'halfway through each minute, under load (MB). "drift" = mean total RSS of the second half minus the first half.',
      '"together" = what the processes take from the host with each page counted once (/proc/<pid>/pagemap; the RSS',
      'sum counts the node binary once per Node process). "Redis data" = the dedicated Redis\'s `used_memory` (what it',
      'holds; its RSS rarely shrinks).',
      '',
      ...out.flatMap((o) => [
        `| side | minute | req/s | p99 ms | non2xx+err | RSS ${o.names.join(' / ')} | total RSS | together | Redis data MB |`,
        '|---|---:|---:|---:|---:|---|---:|---:|---:|',
        ...o.rows,
        '',
        `${o.label}: max total RSS ${mb(o.max)} MB, max together ${o.togetherMax === null ? '–' : mb(o.togetherMax)} MB, ` +
          `drift ${(o.drift / 2 ** 20).toFixed(1)} MB.`,
        '',
      ]),
    ].join('\n');
  },
};
