// Shared by the recovery and goodput benchmarks: the tiny dp 2 · pp 2 · tp 2 job (test fixtures' model and data)
// run for a fixed wall time, then stopped the way an operator's Ctrl-C stops it (SIGINT to this process: the
// coordinator finishes the step in flight and saves a checkpoint). Faults are real SIGKILLs of worker processes.
import path from "node:path";
import { PassThrough } from "node:stream";
import { runDistributed, type DistributedRunResult } from "../../../actors/coordinator/run-distributed.ts";
import type { Coordinator } from "../../../actors/coordinator/coordinator.ts";
import type { RecoveryRecord } from "../../../actors/coordinator/types.ts";
import { pickVictim, seededRandom } from "../../../cli/commands/chaos.ts";
import { writeTinyConfig, type TinyJob } from "../../recovery/fixtures.ts";

/**
 * SIGKILLs are detected from the host agent's exit report, not from silence: heartbeat timeouts only need to
 * be short enough for a hang, and long enough that a worker starved of CPU on a loaded machine (other jobs, the
 * replacement's start-up) is not taken for hung, which would turn one kill into two.
 */
const BENCH_TIMEOUTS = { heartbeatMs: 250, suspectMs: 5000, killMs: 10_000, stepMs: 60_000, startMs: 60_000 };

export interface TimedJobOptions {
  dir: string;
  name: string;
  /** Model and batch of the job (recovery/fixtures.ts); default the tiny one. */
  size?: TinyJob["size"];
  /** Stop after this long from the moment every worker has loaded; undefined = when `drive` resolves. */
  seconds?: number;
  /** Runs while the job trains; the job is stopped when it resolves (if `seconds` is not set). */
  drive?: (c: Coordinator, recovered: () => Promise<RecoveryRecord>) => Promise<void>;
}

export interface TimedJobResult {
  run: DistributedRunResult;
  startedAt: number;
  stoppedAt: number;
  recoveries: RecoveryRecord[];
}

export async function runTimedJob(o: TimedJobOptions): Promise<TimedJobResult> {
  const configFile = writeTinyConfig(o.dir, {
    name: o.name,
    dp: 2,
    pp: 2,
    tp: 2,
    steps: 1_000_000,
    checkpointEvery: 1_000_000,
    size: o.size,
  });
  const recoveries: RecoveryRecord[] = [];
  const waiting: ((r: RecoveryRecord) => void)[] = [];
  let startedAt = 0;
  let stoppedAt = 0;
  let driving: Promise<void> | undefined;
  const stop = () => {
    stoppedAt = Date.now();
    process.kill(process.pid, "SIGINT");
  };
  const run = await runDistributed({
    configFile,
    runDir: path.join(o.dir, o.name),
    backendsModule: path.resolve("test/distributed/fixtures/markov-gpt-backends.ts"),
    out: new PassThrough() as unknown as NodeJS.WriteStream,
    tty: false,
    noSamples: true,
    timeouts: BENCH_TIMEOUTS,
    intensity: { maxRestarts: 1000, periodMs: 60_000 },
    onRecovery: (r) => {
      recoveries.push(r);
      waiting.splice(0).forEach((w) => w(r));
    },
    onStarted: (c) => {
      startedAt = Date.now();
      const recovered = () => new Promise<RecoveryRecord>((resolve) => waiting.push(resolve));
      if (o.seconds !== undefined) setTimeout(stop, o.seconds * 1000);
      driving = (o.drive?.(c, recovered) ?? Promise.resolve()).then(() => {
        if (o.seconds === undefined) stop();
      });
    },
  });
  await driving;
  return { run, startedAt, stoppedAt, recoveries };
}

/** SIGKILL to one random live worker (its process, found from the supervisor's records); undefined if none is up. */
export function killRandomWorker(c: Coordinator, random: () => number): { id: string; pid: number; at: number } | undefined {
  const live = c.workerRecords().flatMap((r) => (r.state === "alive" && r.pid !== null ? [{ id: r.id, pid: r.pid, host: "local" }] : []));
  const v = pickVictim(live, random);
  if (!v) return undefined;
  const at = Date.now();
  process.kill(v.pid, "SIGKILL");
  return { id: v.id, pid: v.pid, at };
}

export { seededRandom };

export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
