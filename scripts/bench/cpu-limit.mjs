// CPU limits for the scaling bench: each process in a cgroup of its own with a CFS quota, which is what a
// Kubernetes `resources.limits.cpu` gives a pod. With every replica limited, a replica is the bottleneck
// rather than the box, so adding replicas shows the capacity they add until the box or Redis runs out.
// cgroup v1 (the `cpu` hierarchy) or v2 (`cpu.max`); needs write access to the cgroup tree (root).
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const PERIOD_US = 100_000;

/** Where this process's cpu cgroup lives, and which interface it speaks; null when neither is mounted. */
function cpuHierarchy() {
  const own = readFileSync('/proc/self/cgroup', 'utf8').split('\n');
  if (existsSync('/sys/fs/cgroup/cpu/cpu.cfs_quota_us')) {
    // v1 line: "<id>:cpu,cpuacct:/path" (the controller list may name cpu among others).
    const line = own.find((l) => l.split(':')[1]?.split(',').includes('cpu'));
    return { version: 1, dir: path.join('/sys/fs/cgroup/cpu', line?.split(':')[2] ?? '/') };
  }
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) {
    const line = own.find((l) => l.startsWith('0::'));
    return { version: 2, dir: path.join('/sys/fs/cgroup', line?.slice(3) ?? '/') };
  }
  return null;
}

/**
 * Opens a set of limited cgroups named after `tag`. Throws with the reason when the host does not let this
 * process create them (no cgroup cpu controller, or no write access).
 */
export function openCpuLimits(tag) {
  try {
    return openIn(cpuHierarchy(), tag);
  } catch (err) {
    throw new Error(`cannot create CPU-limited cgroups: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function openIn(h, tag) {
  if (h === null) {
    throw new Error('no cgroup cpu controller is mounted');
  }
  if (h.version === 2) {
    // A v2 child gets cpu.max only once the parent delegates the controller to its children.
    const subtree = readFileSync(path.join(h.dir, 'cgroup.subtree_control'), 'utf8');
    if (!subtree.split(/\s+/).includes('cpu')) {
      writeFileSync(path.join(h.dir, 'cgroup.subtree_control'), '+cpu');
    }
  }
  // Write access, checked now rather than when the first replica is moved.
  const probe = path.join(h.dir, `${tag}-probe`);
  mkdirSync(probe);
  rmdirSync(probe);
  const groups = new Set();
  const moved = new Set();
  return {
    /** Moves `pid` (all its threads, and those it starts later) into a new group `name` limited to `cores`. */
    limit(pid, name, cores) {
      const dir = path.join(h.dir, `${tag}-${name}`);
      mkdirSync(dir);
      groups.add(dir);
      const quota = Math.round(cores * PERIOD_US);
      if (h.version === 1) {
        writeFileSync(path.join(dir, 'cpu.cfs_period_us'), String(PERIOD_US));
        writeFileSync(path.join(dir, 'cpu.cfs_quota_us'), String(quota));
      } else {
        writeFileSync(path.join(dir, 'cpu.max'), `${quota} ${PERIOD_US}`);
      }
      writeFileSync(path.join(dir, 'cgroup.procs'), String(pid));
      moved.add(pid);
    },
    /** Periods in which the group used its whole quota, of those in which it ran (cpu.stat). */
    throttled(name) {
      const stat = readFileSync(path.join(h.dir, `${tag}-${name}`, 'cpu.stat'), 'utf8');
      const field = (k) => Number(new RegExp(`^${k} (\\d+)`, 'm').exec(stat)?.[1] ?? 0);
      return { periods: field('nr_periods'), throttled: field('nr_throttled') };
    },
    /** Moves every process back to where this one runs, unlimited, and removes the groups. */
    close() {
      for (const pid of moved) {
        try {
          writeFileSync(path.join(h.dir, 'cgroup.procs'), String(pid));
        } catch {
          // The process already exited.
        }
      }
      for (const dir of groups) {
        try {
          rmdirSync(dir);
        } catch {
          // A process we did not move is still inside (it exits with the bench's process group).
        }
      }
    },
  };
}
