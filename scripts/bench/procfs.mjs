// Linux /proc readers for the resource columns: CPU time of a set of processes, RSS, and per-CPU
// busy/steal. Plain synchronous reads: each is a few kB and runs outside the timed requests.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const clockTicks = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

function readText(file) {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    // The process exited between listing and reading: treat it as gone.
    return null;
  }
}

/** Fields of /proc/<pid>/stat after the command name, which may itself contain spaces and parens. */
function statFields(pid) {
  const text = readText(`/proc/${pid}/stat`);
  if (text === null) {
    return null;
  }
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** `pids` plus all their live descendants (a gateway that forks workers is still one gateway side). */
export function withDescendants(pids) {
  const children = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) {
      continue;
    }
    const f = statFields(entry);
    if (f) {
      const ppid = Number(f[1]);
      if (!children.has(ppid)) {
        children.set(ppid, []);
      }
      children.get(ppid).push(Number(entry));
    }
  }
  const out = new Set();
  const stack = [...pids];
  while (stack.length > 0) {
    const pid = stack.pop();
    if (out.has(pid)) {
      continue;
    }
    out.add(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return [...out];
}

/**
 * CPU seconds (user + system, all threads, including threads that already exited) per pid.
 * Resolution is one clock tick (10 ms at CLK_TCK=100), fine over a multi-second run.
 */
export function cpuSeconds(pids) {
  const out = new Map();
  for (const pid of pids) {
    const f = statFields(pid);
    if (f) {
      out.set(pid, (Number(f[11]) + Number(f[12])) / clockTicks);
    }
  }
  return out;
}

/**
 * CPU seconds of the already reaped children of `pid` (cutime + cstime). A load-generator run is a
 * child that exits within the run, so the delta across the run is its CPU time.
 */
export function reapedChildrenCpuSeconds(pid) {
  const f = statFields(pid);
  return f ? (Number(f[13]) + Number(f[14])) / clockTicks : 0;
}

/** CPU seconds spent between two `cpuSeconds` snapshots, over pids present in both. */
export function cpuDelta(before, after) {
  let sum = 0;
  for (const [pid, end] of after) {
    const start = before.get(pid);
    if (start !== undefined) {
      sum += end - start;
    }
  }
  return sum;
}

export function rssBytes(pid) {
  const text = readText(`/proc/${pid}/status`);
  const m = text && /^VmRSS:\s+(\d+)\s+kB/m.exec(text);
  return m ? Number(m[1]) * 1024 : null;
}

/** Samples the RSS of named processes every `intervalMs` and keeps the maximum per name. */
export function startRssSampler(named, intervalMs = 250) {
  const max = Object.fromEntries(Object.keys(named).map((k) => [k, 0]));
  const sample = () => {
    for (const [name, pid] of Object.entries(named)) {
      const rss = rssBytes(pid);
      if (rss !== null && rss > max[name]) {
        max[name] = rss;
      }
    }
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return max;
    },
  };
}

/** Per-CPU jiffies from /proc/stat: { cpu0: { busy, steal, total }, ... }. */
export function cpuTimes() {
  const out = {};
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^(cpu\d+)\s+(.*)$/.exec(line);
    if (!m) {
      continue;
    }
    const [user, nice, system, idle, iowait, irq, softirq, steal] = m[2].split(/\s+/).map(Number);
    const busy = user + nice + system + irq + softirq;
    out[m[1]] = { busy, steal, total: busy + idle + iowait + steal };
  }
  return out;
}

/** Busy and steal percentages per CPU between two `cpuTimes` snapshots. */
export function cpuUsage(before, after) {
  const out = {};
  for (const [cpu, end] of Object.entries(after)) {
    const start = before[cpu];
    const total = start ? end.total - start.total : 0;
    if (total > 0) {
      out[cpu] = {
        busyPct: (100 * (end.busy - start.busy)) / total,
        stealPct: (100 * (end.steal - start.steal)) / total,
      };
    }
  }
  return out;
}
