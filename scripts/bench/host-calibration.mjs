// Host calibration: three figures of the machine itself, measured in every run before the cells, so that runs on
// different hosts (or on one host at different times) can be told apart by what the host costs, not guessed at.
// The gateway side is a chain of processes taking turns on one core, so it pays for hand-offs between processes
// and for waking an idle core far more than a one-process gateway does; a host can be fast at computing and slow
// at those (or the reverse), and the ratios against a peer move with it.
//   - compute: µs per JSON round trip of the bench's request body (parse + stringify), one process on the gateway
//     core; the in-process work every request does, with nothing else in the way;
//   - same-core hand-off: µs per round trip of one byte between two processes on the gateway core over loopback TCP,
//     back to back (each leg is a process waking the other, as each hop of the gateway side is);
//   - cross-core wake: µs per round trip from the client core to a process on the gateway core and back, sent after
//     WAKE_IDLE_MS of silence on both (what a request at one connection pays to wake the idle gateway core).
// Modes of this file as a child process: `compute`, `echo` (prints its port; exits when its stdin closes),
// `ping PORT N` (N back-to-back round trips; prints µs per round trip, the median of 10 batches).
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { median } from './measure.mjs';
import { freePort, pinned, pinning, runToCompletion } from './processes.mjs';
import { chatBody } from './system.mjs';

const SELF = fileURLToPath(import.meta.url);
const COMPUTE_OPS = 20_000;
const PING_ROUND_TRIPS = 5_000;
const WAKE_SAMPLES = 20;
const WAKE_IDLE_MS = 50;
const TIMEOUT_MS = 30_000;

/** The measured request's body, as the apps parse and serialise it. */
const BODY = chatBody();

const nowUs = () => Number(process.hrtime.bigint()) / 1e3;

function compute() {
  const batch = COMPUTE_OPS / 10;
  const times = [];
  let keep = 0;
  for (let b = 0; b < 12; b++) {
    const t0 = nowUs();
    for (let i = 0; i < batch; i++) {
      const body = JSON.parse(BODY);
      body.user = `u${i}`;
      keep += JSON.stringify(body).length;
    }
    // The first two batches warm the JIT up and are not counted.
    if (b >= 2) {
      times.push((nowUs() - t0) / batch);
    }
  }
  return { computeUs: median(times), keep };
}

async function echo() {
  const port = await freePort();
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('data', (d) => socket.write(d));
    socket.on('error', () => socket.destroy());
  });
  server.listen(port, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('close', () => process.exit(0));
}

/** One connection to the echo; `roundTrip()` sends a byte and resolves with the µs until it came back. */
function connect(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    let pending = null;
    socket.on('data', () => {
      const p = pending;
      pending = null;
      p?.resolve(nowUs() - p.t0);
    });
    socket.once('error', reject);
    socket.once('connect', () =>
      resolve({
        roundTrip: () =>
          new Promise((res) => {
            pending = { t0: nowUs(), resolve: res };
            socket.write('x');
          }),
        close: () => socket.destroy(),
      }),
    );
  });
}

async function ping(port, n) {
  const conn = await connect(port);
  const batch = Math.max(1, Math.floor(n / 10));
  const times = [];
  for (let i = 0; i < 50; i++) {
    await conn.roundTrip();
  }
  for (let b = 0; b < 10; b++) {
    const t0 = nowUs();
    for (let i = 0; i < batch; i++) {
      await conn.roundTrip();
    }
    times.push((nowUs() - t0) / batch);
  }
  conn.close();
  return { handOffUs: median(times) };
}

/** Starts the echo on `cpu`; resolves with its port and a stop function. */
function startEcho(cpu) {
  const [bin, argv] = pinned(cpu, process.execPath, [SELF, 'echo']);
  const child = spawn(bin, argv, { stdio: ['pipe', 'pipe', 'inherit'] });
  const stop = () => {
    child.stdin.end();
    child.kill('SIGTERM');
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error('host calibration: the echo process did not start'));
    }, TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`host calibration: the echo process exited (${sig ?? code})`));
    });
    child.stdout.once('data', (d) => {
      clearTimeout(timer);
      resolve({ port: Number(String(d).trim()), stop });
    });
  });
}

async function childJson(cpu, args, signal) {
  const [bin, argv] = pinned(cpu, process.execPath, [SELF, ...args]);
  const { stdout } = await runToCompletion(bin, argv, { timeoutMs: TIMEOUT_MS, signal });
  return JSON.parse(stdout.trim().split('\n').pop());
}

/**
 * Measures the three figures with the gateway core `cpus.gateway` otherwise idle; the cross-core wake is sent from
 * this process, which runs on the client core. A few seconds in all.
 */
export async function calibrateHost({ cpus, signal }) {
  const { computeUs } = await childJson(cpus.gateway, ['compute'], signal);
  const echoProc = await startEcho(cpus.gateway);
  try {
    const { handOffUs } = await childJson(
      cpus.gateway,
      ['ping', String(echoProc.port), String(PING_ROUND_TRIPS)],
      signal,
    );
    const conn = await connect(echoProc.port);
    const wakes = [];
    try {
      for (let i = 0; i < WAKE_SAMPLES && !signal?.aborted; i++) {
        await sleep(WAKE_IDLE_MS);
        wakes.push(await conn.roundTrip());
      }
    } finally {
      conn.close();
    }
    return { computeUs, handOffUs, wakeUs: median(wakes), wakeIdleMs: WAKE_IDLE_MS, pinned: pinning.enabled };
  } finally {
    echoProc.stop();
  }
}

if (process.argv[1] === SELF) {
  const [mode, ...rest] = process.argv.slice(2);
  if (mode === 'compute') {
    process.stdout.write(`${JSON.stringify(compute())}\n`);
  } else if (mode === 'echo') {
    echo();
  } else if (mode === 'ping') {
    process.stdout.write(`${JSON.stringify(await ping(Number(rest[0]), Number(rest[1])))}\n`);
  } else {
    process.stderr.write('usage: host-calibration.mjs compute | echo | ping PORT N\n');
    process.exitCode = 2;
  }
}
