// Command-line options of `npm run bench`.

export const USAGE = `Usage: npm run bench -- [options]

Starts the provider simulator, a dedicated Redis, the api-gateway and the router-worker, and measures
the same chat request sent directly to the simulator and through the gateway, side by side.

  --quick               smoke run: 3 s measured, 1 s warm-up per run, 3 s initial warm-up
  --duration S          measured seconds per run (default 10)
  --warmup S            discarded warm-up seconds before every measured run (default 2)
  --initial-warmup S    one-time gateway warm-up before the first cell (default 5)
  --reps N              repetitions per cell; direct and gateway alternate; the table shows medians (default 1)
  --conc "1 10 100"     concurrency levels (connections of the closed-loop load generator)
  --latency "0 50"      simulator latencies in ms
  --out DIR             output directory (default .bench-out/<timestamp>)
  --loadgen auto|wrk|node   load generator (default auto: wrk when installed, else the built-in Node one)
  --topology split|single   the gateway side: split (default) runs the api-gateway and the router-worker as two
                        processes; single runs them in one all-in-one process (ADR 0010)
  --node-options "..."  extra V8/Node options on the apps' command line, e.g. "--max-semi-space-size=8"
                        (default none, as shipped)
  --stream              send every measured request with \`stream: true\` (SSE: the simulator's 32 chunks arrive
                        in one write); CPU and latency (to the last byte) of streamed answers
  --redis-delay MS      the apps reach Redis through a relay holding each chunk MS ms (whole ms) in each
                        direction: Redis across a network, where every round trip on the path costs 2 × MS
  --stand-in FILE       measure FILE (a forwarding process such as a null gateway) instead of the
                        real gateway side; it gets NULL_GW_HOST, NULL_GW_PORT and UPSTREAM
  --nice N              run every bench process at this niceness (e.g. -10, needs root): on a box
                        shared with other jobs it keeps them off the measured cores (default 0: unchanged)
  --peer portkey        also measure Portkey (installed from npm into a scratch folder, once) in every
                        cell, alternating direct / ours / Portkey, and print the ratios
  --peer-dir DIR        where Portkey is installed (default: $TMPDIR/aigw-bench-portkey-<version>)
  --profile DIR         write V8 CPU profiles of the api-gateway and router-worker to DIR (on exit;
                        summarise with scripts/bench/profile-summary.mjs DIR)
  --heap-survivors DIR  sample the allocations of the api-gateway and router-worker that outlive a
                        scavenge (20 s from 14 s after start) into DIR; summarise with
                        scripts/bench/survivors-summary.mjs DIR
  --skip-extras         run only the main table
  --extras "a,b"        run only these extra benches (ids: see the sections of results.md)
  --help                this text
`;

export function numberList(flag, raw) {
  const list = raw
    .split(/[\s,]+/)
    .filter(Boolean)
    .map(Number);
  if (list.length === 0 || list.some((n) => !Number.isFinite(n) || n < 0)) {
    throw new Error(`${flag} expects non-negative numbers, got "${raw}"`);
  }
  return list;
}

function positive(flag, raw, integer) {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new Error(`${flag} expects a positive ${integer ? 'integer' : 'number'}, got "${raw}"`);
  }
  return n;
}

/** Parses argv (without node and script). `extraFlags` come from the extra benches. */
export function parseArgs(argv, extraFlags = []) {
  const opts = {
    durationS: 10,
    warmupS: 2,
    initialWarmupS: 5,
    reps: 1,
    concurrencies: [1, 10, 100],
    latencies: [0, 50],
    out: null,
    loadgen: 'auto',
    standIn: null,
    topology: 'split',
    redisDelayMs: 0,
    stream: false,
    nodeOptions: '',
    nice: 0,
    skipExtras: false,
    onlyExtras: null,
    profile: null,
    heapSurvivors: null,
    peer: null,
    peerDir: null,
    help: false,
    extra: {},
  };
  const explicit = new Set();
  const extraByName = new Map(extraFlags.map((f) => [f.name, f]));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) {
        throw new Error(`${arg} needs a value`);
      }
      return argv[++i];
    };
    explicit.add(arg);
    switch (arg) {
      case '--quick':
        break;
      case '--duration':
        opts.durationS = positive(arg, value(), true);
        break;
      case '--warmup':
        opts.warmupS = Number(value());
        break;
      case '--initial-warmup':
        opts.initialWarmupS = Number(value());
        break;
      case '--reps':
        opts.reps = positive(arg, value(), true);
        break;
      case '--conc':
        opts.concurrencies = numberList(arg, value()).map((n) => Math.max(1, Math.round(n)));
        break;
      case '--latency':
        opts.latencies = numberList(arg, value());
        break;
      case '--out':
        opts.out = value();
        break;
      case '--loadgen': {
        const v = value();
        if (!['auto', 'wrk', 'node'].includes(v)) {
          throw new Error(`--loadgen expects auto, wrk or node, got "${v}"`);
        }
        opts.loadgen = v;
        break;
      }
      case '--stand-in':
        opts.standIn = value();
        break;
      case '--topology': {
        const v = value();
        if (!['split', 'single'].includes(v)) {
          throw new Error(`--topology expects split or single, got "${v}"`);
        }
        opts.topology = v;
        break;
      }
      case '--node-options':
        opts.nodeOptions = value();
        break;
      case '--redis-delay':
        opts.redisDelayMs = positive(arg, value(), true);
        break;
      case '--nice': {
        const v = Number(value());
        if (!Number.isInteger(v) || v < -20 || v > 19) {
          throw new Error(`--nice expects an integer from -20 to 19`);
        }
        opts.nice = v;
        break;
      }
      case '--stream':
        opts.stream = true;
        break;
      case '--skip-extras':
        opts.skipExtras = true;
        break;
      case '--peer': {
        const v = value();
        if (v !== 'portkey') {
          throw new Error(`--peer expects portkey, got "${v}"`);
        }
        opts.peer = v;
        break;
      }
      case '--extras':
        opts.onlyExtras = value()
          .split(/[\s,]+/)
          .filter(Boolean);
        break;
      case '--profile':
        opts.profile = value();
        break;
      case '--heap-survivors':
        opts.heapSurvivors = value();
        break;
      case '--peer-dir':
        opts.peerDir = value();
        break;
      case '--help':
      case '-h':
        opts.help = true;
        break;
      default:
        if (extraByName.has(arg)) {
          opts.extra[arg] = extraByName.get(arg).value ? value() : true;
          break;
        }
        throw new Error(`unknown option ${arg} (see --help)`);
    }
  }
  if (explicit.has('--quick')) {
    // Explicit values still win over the smoke-run defaults.
    opts.durationS = explicit.has('--duration') ? opts.durationS : 3;
    opts.warmupS = explicit.has('--warmup') ? opts.warmupS : 1;
    opts.initialWarmupS = explicit.has('--initial-warmup') ? opts.initialWarmupS : 3;
  }
  for (const [flag, v] of [
    ['--warmup', opts.warmupS],
    ['--initial-warmup', opts.initialWarmupS],
  ]) {
    if (!Number.isInteger(v) || v < 0) {
      throw new Error(`${flag} expects a whole number of seconds (wrk takes no fractions)`);
    }
  }
  return opts;
}

export function usage(extraFlags) {
  const extras = extraFlags
    .map((f) => {
      const flag = `${f.name} ${f.value ?? ''}`;
      // A flag longer than the column gets its help on the next line.
      return flag.length < 22 ? `  ${flag.padEnd(22)}${f.help}` : `  ${flag}\n  ${''.padEnd(22)}${f.help}`;
    })
    .join('\n');
  return extras ? `${USAGE}\nExtra benches:\n${extras}\n` : USAGE;
}
