#!/usr/bin/env node
// `npm run bench`: what the gateway adds on top of a provider. Starts the simulator and the gateway
// side, then measures the same request directly and through the gateway at each (simulator latency,
// concurrency) cell and prints a Markdown table (also written to <out>/results.md).
// docs/benchmarks.md explains the method and how to read the numbers.
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { root } from './lib.mjs';
import { parseArgs, usage } from './bench/cli.mjs';
import { EXTRA_BENCHES } from './bench/extras.mjs';
import { calibrateHost } from './bench/host-calibration.mjs';
import { createLoadGenerator } from './bench/loadgen.mjs';
import { measureIdle, preflight, preflightPeer, runCell } from './bench/measure.mjs';
import { defaultPortkeyDir, startPortkey } from './bench/peer-portkey.mjs';
import { pinSelf, pinning, ProcessGroup, setNice } from './bench/processes.mjs';
import { calibrationLine, header, notes, peerTable, table } from './bench/report.mjs';
import { startSystem } from './bench/system.mjs';

const CPUS = { client: 0, gateway: 1 };
const IDLE_SECONDS = 3;
const extraFlags = EXTRA_BENCHES.flatMap((e) => e.flags ?? []);

const log = (msg) => process.stderr.write(`[bench] ${msg}\n`);

function stamp(d) {
  return d.toISOString().replace(/[-:]/g, '').replace('T', '_').slice(0, 15);
}

function firstLine(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.error ? null : `${r.stdout}${r.stderr}`.trim().split('\n')[0];
}

const DIST_APPS = path.join(root, 'dist/apps');

/** Newest modification time under `dir` (ms), 0 when it does not exist. */
function newestMtime(dir) {
  if (!existsSync(dir)) {
    return 0;
  }
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) {
      newest = Math.max(newest, statSync(path.join(entry.parentPath ?? entry.path, entry.name)).mtimeMs);
    }
  }
  return newest;
}

/** When dist/ last changed: the newest file, since incremental builds rewrite only the files whose source changed. */
const builtAt = () => {
  const newest = Math.max(newestMtime(DIST_APPS), newestMtime(path.join(root, 'dist/libs')));
  return newest === 0 ? 'not built' : new Date(newest).toISOString();
};

/**
 * Which code was measured: the bench runs whatever is in dist/, which may lag the source. Taken
 * before the apps start, since that is the build they load.
 */
function buildFacts() {
  const head = firstLine('git', ['-C', root, 'rev-parse', '--short', 'HEAD']) ?? 'unknown';
  const dirty = spawnSync('git', ['-C', root, 'status', '--porcelain', '--', 'apps', 'libs', 'tools'], {
    encoding: 'utf8',
  }).stdout;
  const changed = dirty ? dirty.split('\n').filter(Boolean).length : 0;
  const uncommitted = changed ? ` + ${changed} uncommitted file(s) under apps/ libs/ tools/` : '';
  return { text: `git ${head}${uncommitted}; dist built ${builtAt()}`, builtAt: builtAt() };
}

function machineFacts(loadgen, sys, opts, build) {
  const cpuModel = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown CPU';
  const redis = firstLine('redis-server', ['--version'])?.match(/v=(\S+)/)?.[1];
  return {
    nproc: os.cpus().length,
    cpuModel,
    kernel: os.release(),
    node: process.version,
    redis: redis ? `redis-server ${redis}` : 'redis-server unknown',
    loadgen: loadgen.describe,
    systemLabel:
      sys.label +
      (opts.standIn
        ? ''
        : `; apps run with ${opts.nodeOptions ? `node ${opts.nodeOptions}` : "Node's default options"}`),
    build:
      build.text +
      (builtAt() !== build.builtAt
        ? ` (dist was rebuilt during the run, ${builtAt()}; the apps ran the earlier build)`
        : ''),
    placement:
      (pinning.enabled
        ? `CPU ${CPUS.client}: load generator + simulator + this script; CPU ${CPUS.gateway}: the whole gateway side (taskset -c)`
        : `not pinned (${pinning.reason})`) +
      (opts.nice !== 0 ? `; all bench processes at nice ${opts.nice}` : '') +
      (opts.redisDelayMs > 0
        ? `; the apps reach Redis through a ${opts.redisDelayMs} ms-each-way relay (this script)`
        : ''),
    method:
      `closed loop, keep-alive; one-time ${opts.initialWarmupS} s gateway warm-up (c=10); per run ${opts.warmupS} s ` +
      `discarded warm-up then ${opts.durationS} s measured; direct and gateway alternate; ${opts.reps} ` +
      `repetition(s), medians` +
      (opts.stream ? '; every request streamed (SSE, 32 chunks), latency to the last byte' : ''),
  };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2), extraFlags);
  if (opts.help) {
    process.stdout.write(usage(extraFlags));
    return 0;
  }
  const started = new Date();
  const runId = `${stamp(started).toLowerCase()}_${process.pid}`;
  const outDir = path.resolve(opts.out ?? path.join(root, '.bench-out', stamp(started)));
  mkdirSync(path.join(outDir, 'logs'), { recursive: true });
  const tmpDir = mkdtempSync(path.join(os.tmpdir(), 'aigw-bench-'));

  const abort = new AbortController();
  let crashed = null;
  const group = new ProcessGroup((err) => {
    crashed ??= err;
    abort.abort(err);
  });
  const cleanups = [];
  let cleaning = null;
  const cleanup = () =>
    (cleaning ??= (async () => {
      abort.abort();
      await group.stopAll();
      for (const fn of cleanups.reverse()) {
        try {
          await fn();
        } catch (err) {
          log(`cleanup step failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      rmSync(tmpDir, { recursive: true, force: true });
    })());
  let interrupted = false;
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => {
      interrupted = true;
      log(`${sig}: stopping everything`);
      void cleanup().then(() => process.exit(130));
    });
  }

  try {
    setNice(opts.nice);
    pinSelf(CPUS.client);
    if (!pinning.enabled) {
      log(`warning: ${pinning.reason}`);
    }
    const loadgen = createLoadGenerator(opts.loadgen, CPUS.client);
    if (loadgen.name !== 'wrk') {
      log(
        'wrk not found: using the built-in Node load generator (install wrk for lower client overhead: apt-get install wrk)',
      );
    }
    log(`output: ${outDir}`);
    const build = buildFacts();
    // A gateway side with this run's settings; the paired extra starts a second one with its own overrides.
    const launch = (overrides) =>
      startSystem({
        root,
        group,
        cpus: CPUS,
        outDir,
        tmpDir,
        runId,
        topology: opts.topology,
        redisDelayMs: opts.redisDelayMs,
        nodeOptions: opts.nodeOptions,
        stream: opts.stream,
        onCleanup: (fn) => cleanups.push(fn),
        log,
        ...overrides,
      });
    if (opts.heapSurvivors) {
      mkdirSync(opts.heapSurvivors, { recursive: true });
    }
    const sys = await launch({ standIn: opts.standIn, profileDir: opts.profile, survivorsDir: opts.heapSurvivors });
    const guard = () => {
      if (crashed) {
        throw crashed;
      }
    };

    if (opts.peer) {
      if (!sys.simBase) {
        throw new Error('--peer cannot be combined with --stand-in');
      }
      sys.peer = await startPortkey({
        group,
        cpus: CPUS,
        outDir,
        simBase: sys.simBase,
        body: sys.gateway.body,
        dir: opts.peerDir ?? defaultPortkeyDir(),
        log,
      });
    }
    await sys.sim.setLatency(0);
    await preflight(sys, outDir, log);
    if (sys.peer) {
      await preflightPeer(sys, outDir, log);
    }
    if (opts.initialWarmupS > 0) {
      log(`gateway warm-up ${opts.initialWarmupS} s (c=10)`);
      await loadgen.run(sys.gateway, 10, opts.initialWarmupS, abort.signal);
      if (sys.peer) {
        await loadgen.run(sys.peer.target, 10, opts.initialWarmupS, abort.signal);
      }
    }
    guard();
    const idle = await measureIdle(sys, IDLE_SECONDS);
    log(`gateway side at idle: ${idle.totalPct.toFixed(1)}% of one core`);
    // The calibration only describes the machine: a failure of its own is reported, not fatal.
    const host = await calibrateHost({ cpus: CPUS, signal: abort.signal }).catch((err) => {
      log(`host calibration failed: ${err instanceof Error ? err.message : String(err)}`);
      return null;
    });
    log(`host: ${calibrationLine(host)}`);

    const cells = [];
    for (const latencyMs of opts.latencies) {
      await sys.sim.setLatency(latencyMs);
      for (const conc of opts.concurrencies) {
        const cell = await runCell(sys, loadgen, { latencyMs, conc, ...opts, signal: abort.signal, log });
        guard();
        cells.push(cell);
      }
    }

    const summaries = cells.map((c) => c.summary);
    const command = `node scripts/bench.mjs ${process.argv.slice(2).join(' ')}`.trim();
    const meta = { date: started.toISOString(), command, idle, host, ...machineFacts(loadgen, sys, opts, build) };
    let report = `${header(meta)}\n\n${table(summaries, Boolean(sys.rssPids.worker))}\n${notes(summaries, opts.reps)}\n`;
    if (sys.peer) {
      report += `\n## Side by side with ${sys.peer.label}\n\n${peerTable(summaries, sys.peer.label)}\n`;
    }
    writeFileSync(path.join(outDir, 'results.json'), JSON.stringify({ meta, opts, cells }, null, 2));
    writeFileSync(path.join(outDir, 'results.md'), report);

    if (!opts.skipExtras) {
      for (const extra of EXTRA_BENCHES.filter(
        (e) => e.enabled(opts) && (!opts.onlyExtras || opts.onlyExtras.includes(e.id)),
      )) {
        log(`extra: ${extra.title}`);
        await sys.sim.setLatency(0);
        const body = await extra.run({
          sys,
          loadgen,
          opts,
          outDir,
          tmpDir,
          signal: abort.signal,
          log,
          cpus: CPUS,
          // Another gateway side on the same cores (the paired bench): another checkout's dist, other V8 options.
          startSystem: async ({ root: otherRoot, nodeOptions, name }) => {
            const dir = path.join(outDir, name);
            mkdirSync(path.join(dir, 'logs'), { recursive: true });
            return launch({
              root: otherRoot ? path.resolve(otherRoot) : root,
              outDir: dir,
              tmpDir: mkdtempSync(path.join(tmpDir, `${name}-`)),
              runId: `${runId}_${name.replace(/\W/g, '')}`,
              nodeOptions,
              log: (m) => log(`${name}: ${m}`),
            });
          },
        });
        guard();
        report += `\n## ${extra.title}\n\n${body}\n`;
        writeFileSync(path.join(outDir, 'results.md'), report);
      }
    }
    process.stdout.write(`\n${report}\n`);
    log(`written ${path.join(outDir, 'results.md')}`);
    return 0;
  } catch (err) {
    if (interrupted) {
      return 130;
    }
    const shown = crashed ?? err;
    log(`failed: ${shown instanceof Error ? shown.message : String(shown)}`);
    log(`logs: ${path.join(outDir, 'logs')}`);
    return 1;
  } finally {
    await cleanup();
  }
}

process.exitCode = await main();
