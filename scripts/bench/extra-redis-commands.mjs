// Extra: Redis commands per gateway request, read from the dedicated Redis's INFO commandstats
// around a short load. Redis time is part of the gateway side's CPU; this shows where it goes.
import Redis from 'ioredis';
import { attributeCommands } from './redis-attribution.mjs';

const SECONDS = 5;
const CONCURRENCY = 10;
const MONITOR_SECONDS = 3;

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

async function attribute(sys, redis, loadgen, signal) {
  const monitorConn = new Redis(sys.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await monitorConn.connect();
  try {
    return await attributeCommands({
      redis,
      monitorConn,
      pids: sys.gatewaySide ?? {},
      load: async () => {
        const simBefore = await sys.sim.total();
        const res = await loadgen.run(sys.gateway, CONCURRENCY, MONITOR_SECONDS, signal);
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
  enabled: () => true,
  async run({ sys, loadgen, signal, log }) {
    if (!sys.redisUrl) {
      return 'Not applicable: the system under test has no dedicated Redis.';
    }
    const redis = new Redis(sys.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    try {
      await redis.config('RESETSTAT');
      const cpuBefore = redisCpuSeconds(await redis.info('cpu'));
      const simBefore = await sys.sim.total();
      const res = await loadgen.run(sys.gateway, CONCURRENCY, SECONDS, signal);
      // Let queued tails (usage batches, job completion) finish so they are counted with their requests.
      await new Promise((r) => setTimeout(r, 1000));
      const stats = parseCommandStats(await redis.info('commandstats'));
      const cpuSeconds = redisCpuSeconds(await redis.info('cpu')) - cpuBefore;
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
      const byMonitor = await attribute(sys, redis, loadgen, signal);
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
        '',
        '### By source',
        '',
        `MONITOR over ${byMonitor.requests} more requests (same load; MONITOR slows Redis, so read counts only):`,
        `${byMonitor.top.toFixed(1)} top-level commands and ${byMonitor.total.toFixed(1)} with the script-internal ones per request.`,
        'Source = process · connection name; "inside" = commands the script ran, per request, and per call by command.',
        '',
        '| source | command / script | calls/req | inside/req | inside per call |',
        '|---|---|---:|---:|---|',
        ...byMonitor.rows,
      ].join('\n');
    } finally {
      redis.disconnect();
    }
  },
};
