import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '../..');

/**
 * `npm start`'s own variables are checked before it installs, builds or starts anything: WORKERS=two was NaN, which
 * started no router-worker at all, and the script still said the gateway was up (every request then waited for its
 * deadline).
 */
describe('npm start refuses its own variables when they are no usable integer', () => {
  it.each([
    ['WORKERS', 'two', 'WORKERS must be an integer from 1 to 64, got "two"'],
    ['WORKERS', '0', 'WORKERS must be an integer from 1 to 64, got "0"'],
    ['PORT', '3000x', 'PORT must be an integer from 1 to 65535, got "3000x"'],
    ['MONITOR_PORT', '-1', 'MONITOR_PORT must be an integer from 1 to 65535, got "-1"'],
    ['PORT', '65530', 'PORT=65530 leaves no port for router-worker 2 (PORT+1+10*(WORKERS-1))'],
  ])('%s=%j', (name, value, message) => {
    const run = spawnSync(process.execPath, [join(ROOT, 'scripts', 'start.mjs')], {
      cwd: ROOT,
      // Redis on a closed port: were the variable not refused first, the script would stop at its Redis check
      // rather than build and start the system on the machine's own services.
      env: { PATH: process.env.PATH ?? '', REDIS_URL: 'redis://127.0.0.1:1/0', [name]: value },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect({ status: run.status, stderr: run.stderr, stdout: run.stdout }).toEqual({
      status: 1,
      stderr: `npm start: ${message}\n`,
      stdout: '',
    });
  });
});
