// `--peer portkey`: Portkey's gateway, installed from npm into a scratch folder (never into the project),
// started on the gateway CPU beside our gateway side and measured in the same cells, alternating.
// The overrides pin the two packages whose newer releases break Portkey's streaming
// (../shared/bench/README.md, "Portkey (peer gateway) on this machine").
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './processes.mjs';

export const PORTKEY_VERSION = '1.15.2';
const OVERRIDES = { '@hono/node-server': '1.13.5', hono: '4.9.7' };
const START = 'node_modules/@portkey-ai/gateway/build/start-server.js';

export function defaultPortkeyDir() {
  return path.join(os.tmpdir(), `aigw-bench-portkey-${PORTKEY_VERSION}`);
}

/** Installs Portkey into `dir` unless it is there already; returns the start script. */
export function ensurePortkey(dir, log) {
  const start = path.join(dir, START);
  if (existsSync(start)) {
    return start;
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify(
      {
        name: 'aigw-bench-portkey',
        private: true,
        dependencies: { '@portkey-ai/gateway': PORTKEY_VERSION },
        overrides: OVERRIDES,
      },
      null,
      2,
    ),
  );
  log(`installing @portkey-ai/gateway@${PORTKEY_VERSION} into ${dir} (npm, once)`);
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel', 'error'], {
    cwd: dir,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (r.status !== 0 || !existsSync(start)) {
    throw new Error(`npm install of @portkey-ai/gateway@${PORTKEY_VERSION} in ${dir} failed`);
  }
  return start;
}

function portOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Starts Portkey on the gateway CPU, forwarding to the simulator as an OpenAI-compatible custom host.
 * Returns the side the cells measure: its target, its PIDs and its RSS PIDs.
 */
export async function startPortkey({ group, cpus, outDir, simBase, body, dir, log }) {
  const start = ensurePortkey(dir, log);
  const port = await freePort();
  const env = { ...process.env };
  delete env.PORT;
  const proc = group.start('portkey', {
    cpu: cpus.gateway,
    cmd: process.execPath,
    args: [start, `--port=${port}`, '--headless'],
    env,
    logFile: path.join(outDir, 'logs', 'portkey.log'),
  });
  const deadline = Date.now() + 30_000;
  while (!(await portOpen(port))) {
    if (proc.exited || Date.now() > deadline) {
      throw new Error(`Portkey did not start (see ${path.join(outDir, 'logs', 'portkey.log')})`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  log(`peer: Portkey ${PORTKEY_VERSION} pid ${proc.pid} on 127.0.0.1:${port}`);
  const headers = { 'x-portkey-provider': 'openai', 'x-portkey-custom-host': `${simBase}/v1` };
  return {
    label: `Portkey ${PORTKEY_VERSION}`,
    target: { url: `http://127.0.0.1:${port}/v1/chat/completions`, body, auth: 'Bearer sk-bench', headers },
    pids: [proc.pid],
    togetherPids: [proc.pid],
    named: { portkey: proc.pid },
    rssPids: { gateway: proc.pid },
  };
}
