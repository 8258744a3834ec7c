// Linux /proc readers for the resource columns: CPU time of a set of processes, RSS, and per-CPU
// busy/steal. Plain synchronous reads: each is a few kB and runs outside the timed requests.
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';

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

const PAGE = Number(spawnSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).stdout?.trim()) || 4096;

/** Address ranges of `pid`'s mappings that have pages resident (from /proc/<pid>/smaps). */
function residentRanges(pid) {
  const text = readText(`/proc/${pid}/smaps`);
  if (!text) {
    return null;
  }
  const ranges = [];
  let range = null;
  for (const line of text.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (head) {
      range = [parseInt(head[1], 16), parseInt(head[2], 16)];
    } else if (range && line.startsWith('Rss:')) {
      if (!/^Rss:\s+0 kB/.test(line)) {
        ranges.push(range);
      }
      range = null;
    }
  }
  return ranges;
}

/**
 * Physical memory of a set of processes with every page counted once: the number of distinct page frames
 * resident in any of them, read from /proc/<pid>/pagemap. RSS counts a page in each process that maps it,
 * so a sum of RSS counts the node binary's ~50 MB once per Node process; this is what the processes take
 * from the host together. Needs CAP_SYS_ADMIN (the kernel hides frame numbers otherwise): null without it.
 */
export function residentBytesTogether(pids) {
  const frames = new Set();
  for (const pid of pids) {
    const ranges = residentRanges(pid);
    if (ranges === null) {
      continue;
    }
    let fd;
    try {
      fd = openSync(`/proc/${pid}/pagemap`, 'r');
    } catch {
      return null;
    }
    try {
      for (const [start, end] of ranges) {
        const pages = (end - start) / PAGE;
        // One 64-bit entry per page, read as two 32-bit halves in the host's (little-endian) byte order.
        const words = new Uint32Array(pages * 2);
        const got = readSync(fd, words, 0, words.byteLength, (start / PAGE) * 8);
        for (let i = 0; i + 1 < got / 4; i += 2) {
          const high = words[i + 1];
          if ((high & 0x80000000) === 0) {
            continue; // not present
          }
          // Bits 0-54: the page frame number; zero when the kernel hides it from an unprivileged reader.
          const frame = (high & 0x7fffff) * 2 ** 32 + words[i];
          if (frame === 0) {
            return null;
          }
          frames.add(frame);
        }
      }
    } catch {
      // The process exited while being read: count what was read.
    } finally {
      closeSync(fd);
    }
  }
  return frames.size * PAGE;
}

/**
 * Samples the RSS of named processes every `intervalMs` and keeps the maximum per name; with `together` (PIDs),
 * also the maximum of `residentBytesTogether` over them, read every `togetherEveryMs` (a read costs 10-40 ms of
 * the orchestrator's core, so less often), under the name `together` (null where frame numbers are hidden).
 */
export function startRssSampler(named, intervalMs = 250, { together = [], togetherEveryMs = 1000 } = {}) {
  const max = Object.fromEntries(Object.keys(named).map((k) => [k, 0]));
  let togetherMax = together.length > 0 ? 0 : null;
  let lastTogether = 0;
  const sample = (final = false) => {
    for (const [name, pid] of Object.entries(named)) {
      const rss = rssBytes(pid);
      if (rss !== null && rss > max[name]) {
        max[name] = rss;
      }
    }
    const now = Date.now();
    if (togetherMax !== null && (final || now - lastTogether >= togetherEveryMs)) {
      lastTogether = now;
      const bytes = residentBytesTogether(together);
      togetherMax = bytes === null ? null : Math.max(togetherMax, bytes);
    }
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      sample(true);
      return togetherMax === null ? max : { ...max, together: togetherMax };
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
