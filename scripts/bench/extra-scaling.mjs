// `--scaling`: requests per second with 1, 2 and 4 router-workers and 1 and 2 api-gateways on the same
// Redis, against a simulator that is not the bottleneck (0 ms), and what each request costs Redis
// (commands and CPU), which says where Redis becomes the limit. The gateway side is allowed onto both
// cores for this bench (it is pinned to one for the main table); the load generator and the simulator stay
// on the client core, so on a 2-core box the figures show the trend, not a capacity plan.
// `--scaling-cpu CORES` limits every api-gateway and router-worker to CORES of CPU (a cgroup each, as a
// Kubernetes CPU limit does): the replicas, not the box, are then the bottleneck, and the table shows the
// capacity each added replica brings and which kind is at its limit.
import { spawnSync } from 'node:child_process';
import Redis from 'ioredis';
import { openCpuLimits } from './cpu-limit.mjs';
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
  flags: [
    { name: '--scaling', help: 'also run the scaling bench (1/2/4 workers, 1/2 gateways; about a minute)' },
    {
      name: '--scaling-cpu',
      value: 'CORES',
      help: 'limit each api-gateway and router-worker to CORES of CPU in the scaling bench (cgroups, needs root)',
    },
  ],
  enabled: (opts) => Boolean(opts.extra?.['--scaling']) && !opts.standIn,
  async run({ sys, loadgen, opts, signal, log, cpus }) {
    const spread = `${cpus.client},${cpus.gateway}`;
    const redisPid = sys.gatewaySide.redis;
    const limitCores = opts.extra?.['--scaling-cpu'] === undefined ? null : Number(opts.extra['--scaling-cpu']);
    if (limitCores !== null && !(limitCores > 0 && limitCores <= 64)) {
      throw new Error(`--scaling-cpu: expected a number of cores above 0, got ${opts.extra['--scaling-cpu']}`);
    }
    // Without cgroup access the bench still runs, unlimited, and says so above the table.
    let limits = null;
    let limitsRefused = null;
    if (limitCores !== null) {
      try {
        limits = openCpuLimits(`aigw-bench-${process.pid}`);
      } catch (err) {
        limitsRefused = err instanceof Error ? err.message : String(err);
        log(`scaling: --scaling-cpu not applied, running unlimited: ${limitsRefused}`);
      }
    }
    // Each process by kind: the all-in-one process (single topology) counts as a gateway that also hosts a worker.
    const kinds = { gateway: [], worker: [] };
    const hostedWorkers = sys.gatewaySide['all-in-one'] === undefined ? 0 : 1;
    const admit = (kind, proc) => {
      kinds[kind].push(proc);
      limits?.limit(proc.pid, proc.name, limitCores);
    };
    const redis = new Redis(sys.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    const rows = [];
    try {
      for (const [name, pid] of Object.entries(sys.gatewaySide)) {
        repin(pid, spread);
        if (name === 'router-worker') {
          admit('worker', { name, pid });
        } else if (name !== 'redis') {
          admit('gateway', { name, pid, base: sys.gatewayBase });
        }
      }
      await redis.connect();
      for (const step of STEPS) {
        while (kinds.worker.length + hostedWorkers < step.workers) {
          admit('worker', await sys.spawnReplica('router-worker', spread));
        }
        while (kinds.gateway.length < step.gateways) {
          admit('gateway', await sys.spawnReplica('api-gateway', spread));
        }
        const pids = [redisPid, ...[...kinds.gateway, ...kinds.worker].map((p) => p.pid)];
        const targets = kinds.gateway.map((g) => ({ ...sys.gateway, url: `${g.base}/v1/chat/completions` }));
        const per = Math.max(1, Math.round(CONNECTIONS / targets.length));
        // Warm-up (new replicas: JIT, pools), then the measured run with every gateway loaded at once.
        await Promise.all(targets.map((t) => loadgen.run(t, per, 2, signal)));
        await redis.config('RESETSTAT');
        const redisCpu0 = cpuSeconds([redisPid]);
        const sideCpu0 = cpuSeconds(withDescendants(pids));
        const kindCpu0 = { gateway: kindCpu(kinds.gateway), worker: kindCpu(kinds.worker) };
        const throttled0 = limits && {
          gateway: throttledOf(limits, kinds.gateway),
          worker: throttledOf(limits, kinds.worker),
        };
        const results = await Promise.all(targets.map((t) => loadgen.run(t, per, SECONDS, signal)));
        const requests = results.reduce((a, r) => a + r.requests, 0);
        const seconds = Math.max(...results.map((r) => r.seconds));
        const redisUs = (cpuDelta(redisCpu0, cpuSeconds([redisPid])) / requests) * 1e6;
        const sideUs = (cpuDelta(sideCpu0, cpuSeconds(withDescendants(pids))) / requests) * 1e6;
        const commands = commandCalls(await redis.info('commandstats')) / requests;
        const errors = results.reduce((a, r) => a + r.non2xx + r.errors, 0);
        const rps = requests / seconds;
        log(`scaling: ${step.gateways} gw × ${step.workers} workers: ${rps.toFixed(0)} req/s`);
        // With limits: each kind's CPU as a share of what its limits allow, and the share of CFS periods in which
        // its processes used their whole quota: the kind near 100 % on both is the bottleneck.
        const atLimit = (kind) => {
          if (!limits) {
            return '';
          }
          if (kinds[kind].length === 0) {
            return ' – |';
          }
          const used = cpuDelta(kindCpu0[kind], kindCpu(kinds[kind])) / seconds;
          const t = throttledOf(limits, kinds[kind]);
          const periods = t.periods - throttled0[kind].periods;
          const share = periods > 0 ? (100 * (t.throttled - throttled0[kind].throttled)) / periods : 0;
          return ` ${((100 * used) / (limitCores * kinds[kind].length)).toFixed(0)}% / ${share.toFixed(0)}% |`;
        };
        rows.push(
          `| ${step.gateways} | ${step.workers} | ${rps.toFixed(0)} | ${Math.round(sideUs)} | ${commands.toFixed(1)} | ` +
            `${Math.round(redisUs)} | ${((100 * redisUs * rps) / 1e6).toFixed(0)}% | ${Math.round(1e6 / redisUs)} | ` +
            `${errors} |${atLimit('gateway')}${atLimit('worker')}`,
        );
      }
    } finally {
      redis.disconnect();
      // The extras after this one measure the gateway side as the main table does: unlimited, on its core.
      limits?.close();
      for (const pid of sys.gatewaySidePids) {
        repin(pid, String(cpus.gateway));
      }
    }
    const limitHead = limits
      ? ' gateways: CPU of limit / periods throttled | workers: CPU of limit / periods throttled |'
      : '';
    return [
      `${CONNECTIONS} connections in all (split evenly over the gateways), simulator latency 0 ms, ${SECONDS} s per step`,
      'after a 2 s warm-up. The gateway side may use both cores here; the load generator and the simulator share the',
      'first. "Redis CPU" is the dedicated Redis process; "Redis-bound max" = 1 s / Redis CPU per request: the rate at',
      'which one Redis core would be saturated by this path.',
      ...(limits
        ? [
            `Every api-gateway and router-worker is limited to ${limitCores} of a core (a cgroup each, CFS quota per`,
            '100 ms, as a Kubernetes CPU limit); Redis is not. "CPU of limit" = the kind\'s CPU over what its limits',
            'allow; "periods throttled" = CFS periods in which its processes used their whole quota.',
          ]
        : []),
      ...(limitsRefused
        ? [`--scaling-cpu ${limitCores} was not applied (${limitsRefused}): every process ran unlimited.`]
        : []),
      '',
      `| gateways | workers | req/s | gw-side CPU µs/req | Redis commands/req | Redis CPU µs/req | Redis busy | Redis-bound max req/s | non2xx+err |${limitHead}`,
      `|---:|---:|---:|---:|---:|---:|---:|---:|---:|${limits ? '---:|---:|' : ''}`,
      ...rows,
    ].join('\n');
  },
};

function kindCpu(procs) {
  return cpuSeconds(withDescendants(procs.map((p) => p.pid)));
}

function throttledOf(limits, procs) {
  const sum = { periods: 0, throttled: 0 };
  for (const p of procs) {
    const t = limits.throttled(p.name);
    sum.periods += t.periods;
    sum.throttled += t.throttled;
  }
  return sum;
}
