// Optional extra: the shared harness (overhead.sh) pointed at this run's simulator and gateway, for a
// cross-check with the numbers it produced for other gateways. It is called, not copied; it only
// runs with --overhead-sh PATH.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pinning } from './processes.mjs';

function runScript(script, args, signal) {
  return new Promise((resolve, reject) => {
    // This orchestrator is pinned to the client CPU; give the script the whole machine back so it sees
    // every CPU and does its own placement.
    const [cmd, argv] = pinning.enabled
      ? ['taskset', ['-c', `0-${pinning.cpuCount - 1}`, script, ...args]]
      : [script, args];
    const child = spawn(cmd, argv, { stdio: ['ignore', 'inherit', 'inherit'] });
    const kill = () => child.kill('SIGTERM');
    signal?.addEventListener('abort', kill, { once: true });
    child.once('error', (err) => reject(new Error(`${script} could not be started: ${err.message}`, { cause: err })));
    child.once('exit', (code, sig) => {
      signal?.removeEventListener('abort', kill);
      if (code === 0) {
        resolve();
      } else {
        reject(new Error(`${script} failed (${sig ?? code})`));
      }
    });
  });
}

export const overheadShBench = {
  id: 'overhead-sh',
  title: 'Cross-check with the shared overhead.sh',
  flags: [{ name: '--overhead-sh', value: 'PATH', help: 'also run this overhead.sh against the same system' }],
  enabled: (opts) => Boolean(opts.extra['--overhead-sh']),
  async run({ sys, opts, outDir, signal, log, cpus }) {
    const script = path.resolve(opts.extra['--overhead-sh']);
    if (!existsSync(script)) {
      throw new Error(`--overhead-sh: ${script} does not exist`);
    }
    const sections = [];
    for (const latencyMs of opts.latencies) {
      // overhead.sh only knows its own mock's control API, so the latency is set here and it runs
      // with --no-mock-control (which also means it cannot compute up/req).
      await sys.sim.setLatency(latencyMs);
      const dir = path.join(outDir, 'overhead-sh', `latency-${latencyMs}`);
      mkdirSync(dir, { recursive: true });
      log(`overhead.sh at simulator latency ${latencyMs} ms -> ${dir}`);
      await runScript(
        script,
        [
          '--label',
          `aigw-sim-${latencyMs}ms`,
          '-g',
          sys.gateway.url,
          '-H',
          `Authorization: ${sys.gateway.auth}`,
          '--direct-url',
          sys.direct.url,
          '--direct-header',
          `Authorization: ${sys.direct.auth}`,
          '--body',
          sys.gateway.body,
          '--no-mock-control',
          '-c',
          opts.concurrencies.join(' '),
          '-d',
          String(opts.durationS),
          '-w',
          String(opts.warmupS),
          '-r',
          String(opts.reps),
          '--initial-warmup',
          '0',
          '--gateway-pid',
          String(sys.gatewayPid),
          '--client-cpus',
          String(cpus.client),
          '-o',
          dir,
        ],
        signal,
      );
      const md = path.join(dir, 'results.md');
      // Its report starts at heading level 1; nest it under this section.
      const text = existsSync(md) ? readFileSync(md, 'utf8').replace(/^#/gm, '####') : '(no results.md)';
      sections.push(`### Simulator latency ${latencyMs} ms\n\n${text}`);
    }
    return [
      'overhead.sh measures only the api-gateway PID for CPU and RSS (not the worker or Redis).',
      '',
      ...sections,
    ].join('\n');
  },
};
