// Shapes, batch and token data shared by the parallel-overhead benchmark's single-rank and rank processes.
import { readdirSync, readFileSync } from "node:fs";
import { PerformanceObserver } from "node:perf_hooks";
import type { GptConfig } from "../../../ml/model/types.ts";

export interface OverheadShape {
  config: GptConfig;
  /** timed steps after the warm-up step */
  steps: number;
}

export const SHAPES: Record<string, OverheadShape> = {
  tiny: { config: { layers: 4, dModel: 128, heads: 4, seqLen: 64, vocabSize: 1024 }, steps: 3 },
  small: { config: { layers: 12, dModel: 768, heads: 12, seqLen: 256, vocabSize: 8192 }, steps: 2 },
};

export const LAYOUT = { dp: 2, pp: 2, tp: 2 } as const;
/** micro-batches per replica per step (of one sequence each): 2 replicas × 8 = 16 sequences per step */
export const MICROBATCHES = 8;
export const GLOBAL_MICROBATCHES = LAYOUT.dp * MICROBATCHES;
export const SEED = 1234;
export const LR = 1e-4;
export const CLIP = 1;

export function shapeNamed(name: string): OverheadShape {
  const shape = SHAPES[name];
  if (!shape) throw new Error(`unknown shape '${name}'; available: ${Object.keys(SHAPES).join(", ")}`);
  return shape;
}

/** Global micro-batch `index` (one sequence) of `step`: pseudo-random inputs and targets, the same in every process. */
export function microbatch(config: GptConfig, step: number, index: number): { inputs: Int32Array; targets: Int32Array } {
  let h = (Math.imul(step + 1, 0x9e3779b1) ^ Math.imul(index + 7, 0x85ebca6b)) >>> 0;
  const next = () => ((h = (Math.imul(h, 1664525) + 1013904223) >>> 0) >>> 8) % config.vocabSize;
  const inputs = Int32Array.from({ length: config.seqLen }, next);
  const targets = Int32Array.from({ length: config.seqLen }, next);
  return { inputs, targets };
}

/** What each measured process prints as its last line. Times cover the timed steps only (not the warm-up). */
export interface ProcessReport {
  done: true;
  rank: number;
  /** loss of the warm-up step (the same model and data in both runs, so it doubles as a sanity check) */
  firstLoss: number;
  wallSeconds: number;
  /** user + system CPU of this process, all threads */
  cpuSeconds: number;
  maxRssBytes: number;
  /** RSS after start-up, before the model was built: the peak minus this is roughly the training state */
  baselineRssBytes: number;
  /** RSS once the model and optimizer are built (before any step) */
  builtRssBytes: number;
  /** parameter elements this process holds */
  params: number;
  /**
   * of the timed steps: CPU time of the main (JS) thread, user and system (the rest of cpuSeconds: the libuv pool
   * threads that run the native kernels, V8's compiler threads), and the GC pauses (wall)
   */
  mainThreadCpuSeconds: number;
  mainThreadUserSeconds: number;
  mainThreadSystemSeconds: number;
  gcSeconds: number;
  /** of the timed steps: user and system (kernel: socket copies, page faults) parts of cpuSeconds */
  userSeconds: number;
  systemSeconds: number;
  /** of the timed steps, summed over the threads: time runnable but waiting for a core, and context switches */
  runQueueSeconds: number;
  voluntarySwitches: number;
  involuntarySwitches: number;
}

/** User and system CPU seconds of this process's main thread so far (Linux /proc; 0 elsewhere). */
function mainThreadCpu(): { user: number; system: number } {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 }; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return { user: 0, system: 0 };
  }
}

export type MainThreadFigures = Pick<
  ProcessReport,
  "mainThreadCpuSeconds" | "mainThreadUserSeconds" | "mainThreadSystemSeconds" | "gcSeconds"
>;

/** Measures, from now on, the main thread's CPU time and the garbage collector's pauses. */
export function mainThreadMeter(): () => MainThreadFigures {
  const start = mainThreadCpu();
  let gcMs = 0;
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcMs += e.duration;
  });
  observer.observe({ entryTypes: ["gc"] });
  return () => {
    observer.disconnect();
    const now = mainThreadCpu();
    const user = now.user - start.user,
      system = now.system - start.system;
    return { mainThreadCpuSeconds: user + system, mainThreadUserSeconds: user, mainThreadSystemSeconds: system, gcSeconds: gcMs / 1000 };
  };
}

export function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

interface SchedTotals {
  user: number;
  system: number;
  waitSeconds: number;
  voluntary: number;
  involuntary: number;
}

/** Scheduler figures of this process so far: every live thread's run-queue wait and context switches (Linux /proc). */
function schedTotals(): SchedTotals {
  const u = process.cpuUsage();
  const t: SchedTotals = { user: u.user / 1e6, system: u.system / 1e6, waitSeconds: 0, voluntary: 0, involuntary: 0 };
  let tasks: string[] = [];
  try {
    tasks = readdirSync("/proc/self/task");
  } catch {
    return t;
  }
  for (const task of tasks) {
    try {
      t.waitSeconds += Number(readFileSync(`/proc/self/task/${task}/schedstat`, "utf8").split(" ")[1]) / 1e9;
      const status = readFileSync(`/proc/self/task/${task}/status`, "utf8");
      t.voluntary += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      t.involuntary += Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    } catch {
      // the thread ended meanwhile
    }
  }
  return t;
}

/** Measures, from now on, user and system CPU, run-queue wait and context switches of the whole process. */
export function schedMeter(): () => Pick<
  ProcessReport,
  "userSeconds" | "systemSeconds" | "runQueueSeconds" | "voluntarySwitches" | "involuntarySwitches"
> {
  const a = schedTotals();
  return () => {
    const b = schedTotals();
    return {
      userSeconds: b.user - a.user,
      systemSeconds: b.system - a.system,
      runQueueSeconds: b.waitSeconds - a.waitSeconds,
      voluntarySwitches: b.voluntary - a.voluntary,
      involuntarySwitches: b.involuntary - a.involuntary,
    };
  };
}
