// `--scaling`: requests per second with 1, 2 and 4 router-workers and 1 and 2 api-gateways on the same
// Redis, against a simulator that is not the bottleneck (0 ms), and what each request costs Redis
// (commands and CPU), which says where Redis becomes the limit. The gateway side is allowed onto both
// cores for this bench (it is pinned to one for the main table); the load generator and the simulator stay
// on the client core, so on a 2-core box the figures show the trend, not a capacity plan.
import { spawnSync } from 'node:child_process';
import Redis from 'ioredis';
import { cpuDelta, cpuSeconds, withDescendants } from './procfs.mjs';

const SECONDS = 8;
const CONNECTIONS = 100;
const STEPS = [
  { gateways: 1, workers: 1 },
  { gateways: 1, workers: 2 },
  { gateways: 1, workers: 4 },
  { gateways: 2, workers: 4 },
];

function commandCalls(info) {
  let calls = 0;
  for (const line of info.split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    // Lua-internal calls are counted on their own lines too; count what clients sent (and scripts ran).
    if (m && !/^(config|info)\b/.test(m[1])) {
      calls += Number(m[2]);
    }
  }
  return calls;
}

/** Lets every thread of `pid` run on `cpus` (a taskset list). */
function repin(pid, cpus) {
  spawnSync('taskset', ['-a', '-pc', cpus, String(pid)], { stdio: 'ignore' });
}

export const scalingBench = {
  id: 'scaling',
  title: 'Scaling: router-workers and api-gateways on one Redis',
  flags: [{ name: '--scaling', help: 'also run the scaling bench (1/2/4 workers, 1/2 gateways; about a minute)' }],
  enabled: (opts) => Boolean(opts.extra?.['--scaling']) && !opts.standIn,
  async run({ sys, loadgen, signal, log, cpus }) {
    const spread = `${cpus.client},${cpus.gateway}`;
    const redisPid = sys.gatewaySide.redis;
    for (const pid of sys.gatewaySidePids) {
      repin(pid, spread);
    }
    const gateways = [{ base: sys.gatewayBase, pid: sys.gatewayPid }];
    const pids = [...sys.gatewaySidePids];
    let workers = 1;
    const redis = new Redis(sys.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    const rows = [];
    try {
      for (const step of STEPS) {
        while (workers < step.workers) {
          const w = await sys.spawnReplica('router-worker', spread);
          pids.push(w.pid);
          workers++;
        }
        while (gateways.length < step.gateways) {
          const g = await sys.spawnReplica('api-gateway', spread);
          pids.push(g.pid);
          gateways.push(g);
        }
        const targets = gateways.map((g) => ({ ...sys.gateway, url: `${g.base}/v1/chat/completions` }));
        const per = Math.max(1, Math.round(CONNECTIONS / targets.length));
        // Warm-up (new replicas: JIT, pools), then the measured run with every gateway loaded at once.
        await Promise.all(targets.map((t) => loadgen.run(t, per, 2, signal)));
        await redis.config('RESETSTAT');
        const redisCpu0 = cpuSeconds([redisPid]);
        const sideCpu0 = cpuSeconds(withDescendants(pids));
        const results = await Promise.all(targets.map((t) => loadgen.run(t, per, SECONDS, signal)));
        const requests = results.reduce((a, r) => a + r.requests, 0);
        const seconds = Math.max(...results.map((r) => r.seconds));
        const redisUs = (cpuDelta(redisCpu0, cpuSeconds([redisPid])) / requests) * 1e6;
        const sideUs = (cpuDelta(sideCpu0, cpuSeconds(withDescendants(pids))) / requests) * 1e6;
        const commands = commandCalls(await redis.info('commandstats')) / requests;
        const errors = results.reduce((a, r) => a + r.non2xx + r.errors, 0);
        const rps = requests / seconds;
        log(`scaling: ${step.gateways} gw × ${step.workers} workers: ${rps.toFixed(0)} req/s`);
        rows.push(
          `| ${step.gateways} | ${step.workers} | ${rps.toFixed(0)} | ${Math.round(sideUs)} | ${commands.toFixed(1)} | ` +
            `${Math.round(redisUs)} | ${((100 * redisUs * rps) / 1e6).toFixed(0)}% | ${Math.round(1e6 / redisUs)} | ${errors} |`,
        );
      }
    } finally {
      redis.disconnect();
      for (const pid of sys.gatewaySidePids) {
        repin(pid, String(cpus.gateway));
      }
    }
    return [
      `${CONNECTIONS} connections in all (split evenly over the gateways), simulator latency 0 ms, ${SECONDS} s per step`,
      'after a 2 s warm-up. The gateway side may use both cores here; the load generator and the simulator share the',
      'first. "Redis CPU" is the dedicated Redis process; "Redis-bound max" = 1 s / Redis CPU per request: the rate at',
      'which one Redis core would be saturated by this path.',
      '',
      '| gateways | workers | req/s | gw-side CPU µs/req | Redis commands/req | Redis CPU µs/req | Redis busy | Redis-bound max req/s | non2xx+err |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...rows,
    ].join('\n');
  },
};
