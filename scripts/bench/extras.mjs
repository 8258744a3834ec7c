// Extra benches that run after the main table, against the same running system, and append their
// own section to results.md. Add one by appending an object to EXTRA_BENCHES:
//
//   {
//     id: 'routing-decision',                     // short name, used in logs and --skip-extras
//     title: 'Routing decision time',             // section heading in results.md
//     flags: [{ name: '--routing-runs', value: 'N', help: '...' }], // optional CLI flags, parsed into opts.extra
//     enabled: (opts) => true,                    // run by default, or only when its flag was given
//     run: async (ctx) => '...markdown...',       // the section body
//   }
//
// ctx = { sys, loadgen, opts, outDir, tmpDir, signal, log, cpus, startSystem }
//   sys.direct / sys.gateway: targets { url, body, auth } for loadgen.run(target, conc, seconds, signal)
//   sys.sim: { setLatency(ms), total(), stats() }; sys.gatewaySidePids, sys.rssPids, sys.gatewayPid,
//   sys.redisUrl (the dedicated Redis; undefined for a stand-in)
//   startSystem({ root, nodeOptions, name }): starts another gateway side like sys (stopped with the rest)
// The simulator latency is 0 when an extra starts; an extra sets what it needs itself.
import { admissionBench } from './extra-admission.mjs';
import { cacheBench } from './extra-cache.mjs';
import { analyticsBench } from './extra-analytics.mjs';
import { fallbackBench } from './extra-fallback.mjs';
import { overheadShBench } from './extra-overhead-sh.mjs';
import { pairedBench } from './extra-paired.mjs';
import { redisCommandsBench } from './extra-redis-commands.mjs';
import { routingDecisionBench } from './extra-routing-decision.mjs';
import { scalingBench } from './extra-scaling.mjs';
import { soakBench } from './extra-soak.mjs';
import { streamTtftBench } from './extra-stream-ttft.mjs';
import { toolStreamBench } from './extra-tool-stream.mjs';

export const EXTRA_BENCHES = [
  admissionBench,
  cacheBench,
  redisCommandsBench,
  routingDecisionBench,
  fallbackBench,
  overheadShBench,
  toolStreamBench,
  streamTtftBench,
  scalingBench,
  soakBench,
  analyticsBench,
  pairedBench,
];
