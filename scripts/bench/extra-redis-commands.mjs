// Extra: Redis commands per gateway request, read from the dedicated Redis's INFO commandstats
// around a short load. Redis time is part of the gateway side's CPU; this shows where it goes.
import { readFileSync } from 'node:fs';
import Redis from 'ioredis';
import { attributeCommands } from './redis-attribution.mjs';

const SECONDS = 5;
const DEFAULT_CONCURRENCY = 10;
const MONITOR_SECONDS = 3;

/** Read and write system calls, and the bytes they moved, of a process so far (/proc/<pid>/io), or null when gone. */
function syscalls(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/io`, 'utf8');
    const num = (name) => Number(new RegExp(`^${name}: (\\d+)`, 'm').exec(text)?.[1] ?? 0);
    return { r: num('syscr'), w: num('syscw'), rb: num('rchar'), wb: num('wchar') };
  } catch {
    return null;
  }
}

function allSyscalls(pids) {
  return Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, syscalls(pid)]));
}

/** Clients' reads and replies' writes Redis performed (INFO stats): fewer when commands travel in batches. */
function redisIo(info) {
  const num = (name) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  return { reads: num('total_reads_processed'), writes: num('total_writes_processed') };
}

/** Redis's own CPU seconds (user + system) from INFO cpu: command execution plus its network I/O. */
function redisCpuSeconds(info) {
  const num = (name) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return num('used_cpu_user') + num('used_cpu_sys');
}

function parseCommandStats(info) {
  const out = new Map();
  for (const line of info.split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line.trim());
    if (m) {
      out.set(m[1], { calls: Number(m[2]), usec: Number(m[3]) });
    }
  }
  return out;
}

async function attribute(sys, redis, loadgen, signal, conc) {
  const monitorConn = new Redis(sys.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await monitorConn.connect();
  try {
    return await attributeCommands({
      redis,
      monitorConn,
      pids: sys.gatewaySide ?? {},
      load: async () => {
        const simBefore = await sys.sim.total();
        const res = await loadgen.run(sys.gateway, conc, MONITOR_SECONDS, signal);
        await new Promise((r) => setTimeout(r, 1000));
        return Math.max(res.requests, (await sys.sim.total()) - simBefore);
      },
    });
  } finally {
    monitorConn.disconnect();
  }
}

export const redisCommandsBench = {
  id: 'redis-commands',
  title: 'Redis commands per gateway request',
  flags: [
    {
      name: '--redis-conc',
      value: 'N',
      help: `connections of the redis-commands extra's load (default ${DEFAULT_CONCURRENCY})`,
    },
  ],
  enabled: () => true,
  async run({ sys, loadgen, opts, signal, log }) {
    const CONCURRENCY = Number(opts.extra?.['--redis-conc'] ?? DEFAULT_CONCURRENCY) || DEFAULT_CONCURRENCY;
    if (!sys.redisUrl) {
      return 'Not applicable: the system under test has no dedicated Redis.';
    }
    const redis = new Redis(sys.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    try {
      await redis.config('RESETSTAT');
      const cpuBefore = redisCpuSeconds(await redis.info('cpu'));
      const ioBefore = redisIo(await redis.info('stats'));
      const pids = sys.gatewaySide ?? {};
      const sysBefore = allSyscalls(pids);
      const simBefore = await sys.sim.total();
      const res = await loadgen.run(sys.gateway, CONCURRENCY, SECONDS, signal);
      // Let queued tails (usage batches, job completion) finish so they are counted with their requests.
      await new Promise((r) => setTimeout(r, 1000));
      const stats = parseCommandStats(await redis.info('commandstats'));
      const cpuSeconds = redisCpuSeconds(await redis.info('cpu')) - cpuBefore;
      const io = redisIo(await redis.info('stats'));
      const sysAfter = allSyscalls(pids);
      const upstream = (await sys.sim.total()) - simBefore;
      // Requests still in flight when the load generator stopped also ran their commands.
      const requests = Math.max(res.requests, upstream);
      log(`redis commands: ${requests} requests`);
      const rows = [...stats.entries()]
        // The bench's own CONFIG RESETSTAT / INFO are not the gateway's.
        .filter(([name]) => !/^(config|info)\b/.test(name))
        .map(([name, s]) => ({ name, perReq: s.calls / requests, usPerReq: s.usec / requests }))
        .filter((r) => r.perReq >= 0.005)
        .sort((a, b) => b.perReq - a.perReq);
      const total = rows.reduce((a, r) => a + r.perReq, 0);
      const evalsha = stats.get('evalsha');
      const perReq = (n) => (n / requests).toFixed(2);
      const syscallLine = Object.keys(pids)
        .filter((name) => sysBefore[name] && sysAfter[name])
        .map((name) => {
          const [b, a] = [sysBefore[name], sysAfter[name]];
          const kb = (n) => (n / requests / 1024).toFixed(2);
          return `${name} ${perReq(a.r - b.r)} reads (${kb(a.rb - b.rb)} KB) + ${perReq(a.w - b.w)} writes (${kb(a.wb - b.wb)} KB)`;
        })
        .join(', ');
      const byMonitor = await attribute(sys, redis, loadgen, signal, CONCURRENCY);
      return [
        `${requests} gateway requests at c=${CONCURRENCY}, simulator latency 0 ms, ${SECONDS} s; counted with`,
        '`INFO commandstats` after `CONFIG RESETSTAT`. Commands run inside Lua scripts (BullMQ) count both in',
        'their `evalsha` line and on their own, and the `evalsha` time includes theirs; "µs/req" is the time',
        'Redis spent executing the command (not network or parsing).',
        '',
        '| command | calls/req | µs/req |',
        '|---|---:|---:|',
        ...rows.map((r) => `| ${r.name} | ${r.perReq.toFixed(2)} | ${r.usPerReq.toFixed(1)} |`),
        `| all (script-internal included) | ${total.toFixed(1)} | |`,
        '',
        `Redis CPU (INFO cpu, user + system, includes network I/O): ${((cpuSeconds * 1e6) / requests).toFixed(0)} µs/req;`,
        `EVALSHA (scripts with what they ran): ${evalsha ? (evalsha.usec / requests).toFixed(0) : 0} µs/req.`,
        `Redis socket I/O (INFO stats): ${perReq(io.reads - ioBefore.reads)} reads and ${perReq(io.writes - ioBefore.writes)}`,
        `writes per request. System calls per request (/proc/<pid>/io, every file and socket): ${syscallLine || 'n/a'}.`,
        '',
        '### By source',
        '',
        `MONITOR over ${byMonitor.requests} more requests (same load; MONITOR slows Redis, so read counts only):`,
        `${byMonitor.top.toFixed(1)} top-level commands and ${byMonitor.total.toFixed(1)} with the script-internal ones per request.`,
        'Source = process · connection name; "bytes/req" = the arguments it sent (MONITOR\'s rendering, so about the',
        'payload); "inside" = commands the script ran, per request, and per call by command.',
        '',
        '| source | command / script | calls/req | bytes/req | inside/req | inside per call |',
        '|---|---|---:|---:|---:|---|',
        ...byMonitor.rows,
      ].join('\n');
    } finally {
      redis.disconnect();
    }
  },
};
