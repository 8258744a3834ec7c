// The load generator: wrk when installed (C, cheap on the CPU it shares with the simulator,
// microsecond latencies), else the Node closed-loop fallback. Both run as a child process on the
// client CPU and report the same result shape.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pinned, runToCompletion } from './processes.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const WRK_SCRIPT = path.join(here, 'wrk-report.lua');
const NODE_CHILD = path.join(here, 'loadgen-node-child.mjs');

/** Per-request timeout: a stuck gateway shows up as timeout errors, not as one endless run. */
const REQUEST_TIMEOUT_S = 10;

function wrkVersion() {
  const r = spawnSync('wrk', ['--version'], { encoding: 'utf8' });
  if (r.error) {
    return null;
  }
  const m = /\d+\.\d+\.\d+/.exec(`${r.stdout}${r.stderr}`);
  return m ? m[0] : 'unknown version';
}

function parseResult(stdout, label) {
  const line = stdout.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
  if (!line) {
    throw new Error(`${label} printed no BENCH_RESULT line:\n${stdout.slice(-2000)}`);
  }
  const r = JSON.parse(line.slice('BENCH_RESULT '.length));
  const seconds = r.durationUs / 1e6;
  return {
    requests: r.requests,
    seconds,
    rps: seconds > 0 ? r.requests / seconds : 0,
    p50: r.p50Us / 1000,
    p90: r.p90Us / 1000,
    p99: r.p99Us / 1000,
    p999: r.p999Us / 1000,
    max: r.maxUs / 1000,
    mean: r.meanUs / 1000,
    non2xx: r.non2xx,
    errors: r.errConnect + r.errRead + r.errWrite + r.errTimeout,
    errorDetail: { connect: r.errConnect, read: r.errRead, write: r.errWrite, timeout: r.errTimeout },
  };
}

/**
 * Picks the engine. `prefer` is 'auto' | 'wrk' | 'node'.
 * Returns { name, describe, run(target, connections, seconds, signal) }.
 * A target is { url, body, auth, headers? } where auth is the full Authorization value or '' and
 * headers any extra request headers.
 */
export function createLoadGenerator(prefer, cpu) {
  const version = prefer === 'node' ? null : wrkVersion();
  if (prefer === 'wrk' && !version) {
    throw new Error('--loadgen wrk: wrk is not installed (apt-get install wrk)');
  }
  if (version) {
    return {
      name: 'wrk',
      describe: `wrk ${version} (1 thread, keep-alive, closed loop)`,
      async run(target, connections, seconds, signal) {
        const args = ['-t1', `-c${connections}`, `-d${seconds}s`, `--timeout`, `${REQUEST_TIMEOUT_S}s`];
        const [cmd, argv] = pinned(cpu, 'wrk', [...args, '-s', WRK_SCRIPT, target.url]);
        const { stdout } = await runToCompletion(cmd, argv, {
          env: {
            ...process.env,
            BENCH_BODY: target.body,
            BENCH_AUTH: target.auth,
            BENCH_HEADERS: Object.entries(target.headers ?? {})
              .map(([k, v]) => `${k}: ${v}`)
              .join('\n'),
          },
          timeoutMs: (seconds + REQUEST_TIMEOUT_S + 20) * 1000,
          signal,
        });
        return parseResult(stdout, 'wrk');
      },
    };
  }
  return {
    name: 'node',
    describe: `built-in Node closed-loop generator (undici Pool, ${process.version})`,
    async run(target, connections, seconds, signal) {
      const [cmd, argv] = pinned(cpu, process.execPath, [NODE_CHILD]);
      const cfg = { ...target, connections, seconds, timeoutS: REQUEST_TIMEOUT_S };
      const { stdout } = await runToCompletion(cmd, argv, {
        env: { ...process.env, BENCH_LOADGEN: JSON.stringify(cfg) },
        timeoutMs: (seconds + REQUEST_TIMEOUT_S + 20) * 1000,
        signal,
      });
      return parseResult(stdout, 'node load generator');
    },
  };
}
