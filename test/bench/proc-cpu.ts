// CPU seconds of processes from /proc (utime + stime of /proc/<pid>/stat): of given pids, and of every descendant of
// this process (what the dashboard benchmark started: the dashboard process, Chromium and its helpers).
import { readdirSync, readFileSync } from "node:fs";

const TICKS = 100; // USER_HZ: Linux reports utime and stime in 1/100 s

function stat(pid: number): string[] | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    return s.slice(s.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined; // gone
  }
}

/** utime + stime of `pid` in seconds (0 when it is gone). */
export function cpuSeconds(pid: number): number {
  const f = stat(pid);
  return f ? (Number(f[11]) + Number(f[12])) / TICKS : 0;
}

/** Pids of every live descendant of `root`. */
function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    const f = stat(Number(d));
    if (f) parent.set(Number(d), Number(f[1]));
  }
  const out: number[] = [];
  const within = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === root) return true;
    return false;
  };
  for (const pid of parent.keys()) if (within(pid)) out.push(pid);
  return out;
}

/** CPU seconds per live descendant of this process, by pid (compare two samples pid by pid: a new process starts at 0). */
export function descendantCpu(): Map<number, number> {
  return new Map(descendants(process.pid).map((pid) => [pid, cpuSeconds(pid)]));
}

/** CPU seconds the descendants used between two samples (processes in both, and those new in the second). */
export function cpuBetween(a: Map<number, number>, b: Map<number, number>): number {
  let sum = 0;
  for (const [pid, s] of b) sum += s - (a.get(pid) ?? 0);
  return sum;
}
