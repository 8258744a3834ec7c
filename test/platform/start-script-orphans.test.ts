import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort } from '@aigw/testing';

const ROOT = join(__dirname, '../..');

/**
 * Whether `pid` is still a running process (signal 0 tests for it without sending anything). One that exited but that
 * no process has reaped yet (a zombie: an orphan's new parent may be slow to) counts as gone.
 */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // /proc/<pid>/stat: "pid (comm) state ...".
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function until(what: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await what()) {
      return true;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return what();
}

/**
 * `npm start`'s processes stop when the script is gone, however it went: killed (SIGKILL, the OOM killer, an IDE's stop
 * button) or crashed, it had no chance to stop them, and the apps and the simulator went on serving, orphaned, holding
 * their ports, so that the next `npm start` found them "already in use". The script starts each process with
 * lib.mjs's `spawnChild`; here a stand-in for the script starts the simulator (built, in dist) with it and is killed.
 */
describe('npm start: a process it started stops once the script is gone', () => {
  let script: ChildProcess | undefined;
  let childPid: number | undefined;

  afterEach(() => {
    // Whatever the outcome, nothing of this test is left running.
    script?.kill('SIGKILL');
    if (childPid !== undefined && alive(childPid)) {
      process.kill(childPid, 'SIGKILL');
    }
  });

  it('the simulator, when the script is killed with SIGKILL', async () => {
    const port = await freePort();
    const starter = [
      `import { spawnChild } from ${JSON.stringify(join(ROOT, 'scripts', 'lib.mjs'))};`,
      "const child = spawnChild('dist/tools/simulator/main.js', { ...process.env });",
      'child.stdout.pipe(process.stdout);',
      'child.stderr.pipe(process.stderr);',
      'console.log(`child ${child.pid}`);',
    ].join('\n');
    script = spawn(process.execPath, ['--input-type=module', '-e', starter], {
      env: { PATH: process.env.PATH ?? '', SIM_HOST: '127.0.0.1', SIM_PORT: String(port), SIM_LATENCY_MS: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    script.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    script.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    expect(await until(() => /child \d+/.test(output), 10_000)).toBe(true);
    const pid = Number(/child (\d+)/.exec(output)?.[1]);
    childPid = pid;
    expect(await until(() => accepts(port), 20_000)).toBe(true);

    const gone = new Promise((resolve) => script?.once('exit', resolve));
    script.kill('SIGKILL');
    await gone;

    // Before, it served on for good (it was given 10 s here).
    expect(await until(() => !alive(pid), 10_000)).toBe(true);
    expect(await accepts(port)).toBe(false);
  });
});
