// Who sends which Redis command: MONITOR over a short load, each top-level command attributed to the
// process and connection that sent it (CLIENT LIST names, /proc socket owners), each script-internal
// command to the Lua script that ran it (BullMQ's scripts are named by the SHA1 of their source).
// MONITOR slows Redis down; only the counts are meant to be read from it.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createRequire } from 'node:module';

/** SHA1 of each BullMQ Lua script → its name (what ioredis sends as EVALSHA). */
async function bullmqScriptNames() {
  const require = createRequire(import.meta.url);
  const scripts = await import(require.resolve('bullmq/dist/cjs/scripts/index.js'));
  const out = new Map();
  for (const s of Object.values(scripts.default ?? scripts)) {
    if (s && typeof s.content === 'string') {
      out.set(createHash('sha1').update(s.content).digest('hex'), s.name);
    }
  }
  return out;
}

/** Local TCP port → process label, for the sockets held by the given processes. */
function portOwners(pids) {
  const inodeToLabel = new Map();
  for (const [label, pid] of Object.entries(pids)) {
    let fds = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodeToLabel.set(m[1], label);
      } catch {
        // fd closed meanwhile
      }
    }
  }
  const out = new Map();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const label = inodeToLabel.get(f[9]);
      if (label) out.set(parseInt(f[1].split(':')[1], 16), label);
    }
  }
  return out;
}

function clientNames(clientList) {
  const out = new Map();
  for (const line of clientList.split('\n')) {
    const addr = /\baddr=(\S+)/.exec(line)?.[1];
    const name = /\bname=(\S*)/.exec(line)?.[1];
    if (addr) out.set(addr, name || '(unnamed)');
  }
  return out;
}

/**
 * Runs `load()` while MONITOR records; returns Markdown rows: per source (process · connection), each
 * top-level command or script with calls and argument bytes per request and the script-internal commands it ran per
 * request.
 */
export async function attributeCommands({ redis, monitorConn, pids, load }) {
  const scripts = await bullmqScriptNames();
  const lines = [];
  // The built test helper: ioredis's own monitor() rejects when a command lands in the read of MONITOR's OK.
  const { openMonitor } = createRequire(import.meta.url)('../../dist/libs/testing/src/redis-monitor.js');
  const monitor = await openMonitor(monitorConn);
  monitor.on('monitor', (_time, args, source) => lines.push([source, args]));
  let requests;
  try {
    requests = await load();
  } finally {
    monitor.disconnect();
  }
  const names = clientNames(await redis.client('LIST'));
  const owners = portOwners(pids);
  // The bench's namespace (`bench-<run id>:`) and BullMQ's hash-tagged one say nothing here.
  const strip = (name) => name.replace(/^\{?bench-[^:}]*\}?:/, '');
  const bySource = new Map();
  let current = null;
  for (const [source, args] of lines) {
    const cmd = String(args[0]).toLowerCase();
    if (source === 'lua') {
      if (current) {
        current.internal += 1;
        current.inner.set(cmd, (current.inner.get(cmd) ?? 0) + 1);
      }
      continue;
    }
    const port = Number(source.split(':').pop());
    const who = `${owners.get(port) ?? '?'} · ${strip(names.get(source) ?? '(closed)')}`;
    let what = cmd;
    if (cmd === 'evalsha') {
      const sha = String(args[1]);
      what = `evalsha ${scripts.get(sha)?.replace(/-\d+$/, '') ?? sha.slice(0, 8)}`;
    } else if (cmd === 'publish' || cmd === 'subscribe') {
      what = `${cmd} ${strip(String(args[1])).replace(/:[^:]+$/, ':*')}`;
    }
    const key = `${who}\u0000${what}`;
    current = bySource.get(key) ?? { who, what, calls: 0, internal: 0, bytes: 0, inner: new Map() };
    current.calls += 1;
    // What the command carried (its arguments' bytes, as MONITOR shows them): the request path's payload copies.
    current.bytes += args.reduce((n, a) => n + Buffer.byteLength(String(a)), 0);
    bySource.set(key, current);
  }
  const rows = [...bySource.values()]
    .filter((r) => (r.calls + r.internal) / requests >= 0.005)
    .sort((a, b) => a.who.localeCompare(b.who) || b.calls + b.internal - (a.calls + a.internal));
  const total = rows.reduce((a, r) => a + r.calls + r.internal, 0) / requests;
  const top = rows.reduce((a, r) => a + r.calls, 0) / requests;
  return {
    requests,
    total,
    top,
    rows: rows.map((r) => {
      const inner = [...r.inner.entries()]
        .sort((a, b) => b[1] - a[1])
        .map(([c, n]) => `${c} ${(n / r.calls).toFixed(1)}`)
        .join(', ');
      return `| ${r.who} | ${r.what} | ${(r.calls / requests).toFixed(2)} | ${Math.round(r.bytes / requests)} | ${(r.internal / requests).toFixed(2)} | ${inner} |`;
    }),
  };
}
