// Disjoint CPU sets for the dashboard benchmark: the job's processes on one, the dashboard and the browser on the
// other (as on a real cluster, where the dashboard runs on the head node and the browser on the operator's laptop),
// through `taskset` (util-linux). Affinity is inherited: a command started under `taskset -c` and every process it
// starts (nats-server, the host agent, its workers and coordinator) stay on the set.
import { execFileSync } from "node:child_process";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

const TASKSET = "taskset";

/** "0-2,5" → [0, 1, 2, 5] */
export function parseCpuList(list: string): number[] {
  return list
    .trim()
    .split(",")
    .filter(Boolean)
    .flatMap((r) => {
      const [a, b] = r.split("-").map(Number);
      return Array.from({ length: (b ?? a!) - a! + 1 }, (_, k) => a! + k);
    });
}

/** The CPUs a process may run on (its Cpus_allowed_list), or undefined when it is gone. */
export function allowedCpus(pid: number | "self"): number[] | undefined {
  try {
    const m = /^Cpus_allowed_list:\s*(\S+)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? parseCpuList(m[1]!) : undefined;
  } catch {
    return undefined;
  }
}

export interface CpuSplit {
  job: string;
  page: string;
}

/**
 * Half of this process's CPUs for the job (the first half, the larger one when odd), the rest for the dashboard and
 * the browser; or why they cannot be split (no taskset, a single CPU).
 */
export function splitCpus(): CpuSplit | string {
  const cpus = allowedCpus("self") ?? [];
  if (cpus.length < 2) return `this process may use ${cpus.length} CPU(s); two sets need at least 2`;
  try {
    execFileSync(TASKSET, ["-c", String(cpus[0]), "true"], { stdio: "ignore" });
  } catch {
    return "taskset (util-linux) is not installed or cannot set affinity here";
  }
  const half = Math.ceil(cpus.length / 2);
  return { job: cpus.slice(0, half).join(","), page: cpus.slice(half).join(",") };
}

/** A command line under `taskset -c cpus` (as it is when `cpus` is undefined). */
export function pinned(cpus: string | undefined, file: string, args: string[]): [string, string[]] {
  return cpus === undefined ? [file, args] : [TASKSET, ["-c", cpus, file, ...args]];
}

/**
 * An executable that starts `binary` under `taskset -c cpus` (exec: the same pid, the same pipes), for a launcher
 * that takes only an executable's path (playwright's chromium.launch).
 */
export function pinnedExecutable(dir: string, name: string, binary: string, cpus: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, `#!/bin/sh\nexec ${TASKSET} -c ${cpus} ${binary} "$@"\n`);
  chmodSync(file, 0o755);
  return file;
}
