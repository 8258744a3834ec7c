// Child processes of the bench: pinned to a CPU with taskset, logged to files, and always stopped
// by their own PID (never by name) when the bench ends, fails or is interrupted.
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import net from 'node:net';

const cpuCount = (() => {
  const r = spawnSync('nproc', [], { encoding: 'utf8' });
  return Number(r.stdout?.trim()) || 1;
})();
const hasTaskset = spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;

/** Pinning needs taskset and two CPUs; on one CPU everything shares it and the numbers say so. */
export const pinning = { enabled: hasTaskset && cpuCount >= 2, cpuCount, reason: '' };
if (!hasTaskset) {
  pinning.reason = 'taskset not found (util-linux): processes are not pinned';
} else if (cpuCount < 2) {
  pinning.reason = `only ${cpuCount} CPU: load generator and gateway share it`;
}

/**
 * Scheduling priority for every process of the bench (`--nice`, 0 = unchanged). On a box shared with
 * other jobs a negative value keeps them from taking CPU time away from the measured processes.
 */
export const scheduling = { nice: 0 };

export function setNice(n) {
  if (n < 0 && process.getuid?.() !== 0) {
    // nice(1) would only warn and run the process at normal priority: refuse instead.
    throw new Error(`--nice ${n} needs root`);
  }
  scheduling.nice = n;
}

/** Command prefix that runs `cmd` on `cpu` (or unpinned when pinning is off), at `scheduling.nice`. */
export function pinned(cpu, cmd, args) {
  const [bin, argv] = pinning.enabled ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args];
  return scheduling.nice !== 0 ? ['nice', ['-n', String(scheduling.nice), bin, ...argv]] : [bin, argv];
}

/** Moves this orchestrator (and its threads) to `cpu` so its sampling never runs on the gateway core. */
export function pinSelf(cpu) {
  if (pinning.enabled) {
    spawnSync('taskset', ['-a', '-pc', String(cpu), String(process.pid)], { stdio: 'ignore' });
  }
}

/** A free loopback TCP port (the OS picks it; the tiny race before the child binds is acceptable here). */
/**
 * A free loopback port: the kernel's choice, or the next free one of BENCH_PORT_RANGE ("LO-HI") when that is set,
 * so that a bench run beside other work on the host keeps to the ports it was given.
 */
export async function freePort() {
  const range = /^(\d+)-(\d+)$/.exec(process.env.BENCH_PORT_RANGE ?? '');
  if (!range) {
    return listenOn(0);
  }
  const [lo, hi] = [Number(range[1]), Number(range[2])];
  for (let tries = 0; tries <= hi - lo; tries++) {
    const port = lo + (nextInRange++ % (hi - lo + 1));
    try {
      return await listenOn(port);
    } catch {
      // taken: the next one
    }
  }
  throw new Error(`no free port in BENCH_PORT_RANGE ${process.env.BENCH_PORT_RANGE}`);
}

let nextInRange = 0;

function listenOn(want) {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(want, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function tail(file, lines = 20) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export class ProcessGroup {
  #procs = [];
  #stopping = false;
  #onCrash;

  /** `onCrash(error)` is called when a long-running process exits on its own. */
  constructor(onCrash) {
    this.#onCrash = onCrash;
  }

  /**
   * Starts a long-running process on `cpu`; stdout and stderr go to `logFile`.
   * Returns { name, pid, child, logFile }.
   */
  start(name, { cpu, cmd, args, env, logFile }) {
    const [bin, argv] = pinned(cpu, cmd, args);
    const log = createWriteStream(logFile, { flags: 'a' });
    // Own process group: a terminal Ctrl-C reaches only the orchestrator, which then stops these in order.
    const child = spawn(bin, argv, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child.stdout.pipe(log);
    child.stderr.pipe(log);
    const proc = { name, pid: child.pid, child, logFile, exited: false };
    child.once('exit', (code, signal) => {
      proc.exited = true;
      if (!this.#stopping) {
        this.#onCrash(
          new Error(
            `${name} (pid ${child.pid}) exited unexpectedly (${signal ?? code}); last log lines:\n${tail(logFile)}`,
          ),
        );
      }
    });
    child.once('error', (err) => {
      proc.exited = true;
      this.#onCrash(new Error(`${name} could not be started: ${err.message}`, { cause: err }));
    });
    this.#procs.push(proc);
    return proc;
  }

  /** SIGTERM in reverse start order, SIGKILL after `graceMs`. Idempotent. */
  async stopAll(graceMs = 8000) {
    this.#stopping = true;
    const live = this.#procs.filter((p) => !p.exited).reverse();
    for (const p of live) {
      p.child.kill('SIGTERM');
      await Promise.race([new Promise((r) => p.child.once('exit', r)), new Promise((r) => setTimeout(r, graceMs))]);
      if (!p.exited) {
        p.child.kill('SIGKILL');
        await new Promise((r) => p.child.once('exit', r));
      }
    }
  }
}

/**
 * Runs a short-lived command to completion, bounded by `timeoutMs`, and returns its output.
 * Used for load-generator runs; the child is killed by PID on timeout or abort.
 */
export function runToCompletion(cmd, args, { env, timeoutMs, signal } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const kill = () => child.kill('SIGKILL');
    const timer = setTimeout(kill, timeoutMs);
    signal?.addEventListener('abort', kill, { once: true });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} could not be started: ${err.message}`, { cause: err }));
    });
    child.once('close', (code, sig) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', kill);
      if (code !== 0) {
        reject(new Error(`${cmd} ${args.join(' ')} failed (${sig ?? code}): ${stderr.trim() || stdout.trim()}`));
        return;
      }
      resolve({ stdout, stderr });
    });
  });
}
