// Where the time of one SIGKILL goes: polls the coordinator (the supervisor's records) and the replacement (status
// over NATS) every few milliseconds after the kill, and reads the replacement's start time from /proc (before the
// kill: it was a warm spare, runtime/agent/spare-pool.ts). Phases: kill → detected (the exit report reached the
// coordinator) → spawned (the supervisor has the replacement's pid) → booted (it answers status: node, tsx,
// modules, NATS; a spare has done the first part already) → restoring (joined the new communicator, compute
// built) → recovered (state from the peer) → first committed step.
import { readFileSync } from "node:fs";
import type { Coordinator } from "../../../actors/coordinator/coordinator.ts";
import type { RecoveryRecord } from "../../../actors/coordinator/types.ts";

export interface KillTrace {
  id: string;
  pid: number;
  at: number;
  detectedAt?: number;
  spawnedAt?: number;
  /** The replacement process's start (from /proc): before `at` when it was a warm spare. */
  processStartedAt?: number;
  bootedAt?: number;
  restoringAt?: number;
  recoveredAt?: number;
  restoreSeconds?: number;
  firstCommitAt?: number;
}

const POLL_MS = 10;

/** Follows the recovery of the worker killed at `kill.at` until `recovered` settles (or 60 s pass). */
export async function traceKill(
  c: Coordinator,
  kill: { id: string; pid: number; at: number },
  recovered: Promise<RecoveryRecord>,
): Promise<KillTrace> {
  const t: KillTrace = { ...kill };
  let done = false;
  recovered.then(
    (r) => {
      done = true;
      t.recoveredAt = Date.now();
      t.detectedAt = r.detectedAt;
      t.restoreSeconds = r.restoreSeconds;
    },
    () => (done = true),
  );
  const deadline = kill.at + 60_000;
  let pid: number | null = null;
  while (!done && Date.now() < deadline) {
    const rec = c.workerRecords().find((r) => r.id === kill.id);
    if (pid === null && rec?.pid != null && rec.pid !== kill.pid) {
      pid = rec.pid;
      t.spawnedAt = Date.now();
      t.processStartedAt = processStartTime(pid);
    }
    if (pid !== null && t.restoringAt === undefined) {
      const s = await c.status(kill.id).catch(() => undefined);
      const now = Date.now();
      if (s && t.bootedAt === undefined) t.bootedAt = now;
      if (s && (s.state === "restoring" || s.state === "idle") && s.epoch === c.epoch) t.restoringAt = now;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return t;
}

/** Wall-clock time (ms) a process started, from /proc (10 ms resolution); undefined when it is gone. */
function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const startTicks = Number(fields[19]); // field 22 of the whole line: starttime in clock ticks since boot
    const uptime = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
    return Date.now() - (uptime - startTicks / 100) * 1000;
  } catch {
    return undefined;
  }
}

/** Fills in each trace's first committed step after its kill. */
export function withFirstCommits(traces: KillTrace[], commitTimes: readonly number[]): KillTrace[] {
  return traces.map((t) => ({ ...t, firstCommitAt: commitTimes.find((x) => x > t.at) }));
}

export const wasWarm = (t: KillTrace) => t.processStartedAt !== undefined && t.processStartedAt < t.at;
const secs = (from: number, to: number | undefined) => (to === undefined ? "   ?  " : ((to - from) / 1000).toFixed(2).padStart(6));

/** One line per kill: seconds after the SIGKILL at which each phase was reached. */
export function formatTrace(t: KillTrace): string {
  return (
    `${t.id}: detected ${secs(t.at, t.detectedAt)}  spawned ${secs(t.at, t.spawnedAt)}${wasWarm(t) ? " (warm spare)" : "             "}  booted ${secs(t.at, t.bootedAt)}  ` +
    `restoring ${secs(t.at, t.restoringAt)}  recovered ${secs(t.at, t.recoveredAt)} (transfer ${t.restoreSeconds?.toFixed(3) ?? "?"})  first commit ${secs(t.at, t.firstCommitAt)}`
  );
}

/** Phase durations (s) of a finished trace, for medians over many kills. */
export function phases(t: KillTrace): Record<string, number> | undefined {
  const { detectedAt, spawnedAt, bootedAt, restoringAt, recoveredAt, firstCommitAt } = t;
  if ([detectedAt, spawnedAt, bootedAt, restoringAt, recoveredAt, firstCommitAt].some((x) => x === undefined)) return undefined;
  return {
    detect: (detectedAt! - t.at) / 1000,
    spawn: (spawnedAt! - detectedAt!) / 1000,
    boot: (bootedAt! - spawnedAt!) / 1000,
    join_build: (restoringAt! - bootedAt!) / 1000,
    restore: (recoveredAt! - restoringAt!) / 1000,
    rerun_commit: (firstCommitAt! - recoveredAt!) / 1000,
    total: (firstCommitAt! - t.at) / 1000,
  };
}
