// Overhead of 3D parallelism: tokens per CPU-second of a dp×pp×tp = 2×2×2 run (8 real rank processes, 1F1B, CPU
// collectives over loopback TCP, rendezvous through a private nats-server) against one rank training the same model
// on the same global batch (16 sequences per step = 2 replicas × 8 micro-batches of 1), both measured in this run.
// CPU time is user + system of every thread of every measured process over its timed steps (process.cpuUsage in
// each process): the native kernels run on libuv pool threads, the main thread does the JS (collectives' framing,
// reductions and copies, the schedule, GC with --single-threaded-gc) and the socket system calls. The nats-server
// and this process are not counted; ranks waiting for each other sleep in epoll (no CPU).
// The headline ratio divides the single rank's CPU per token by the 2×2×2 run's: what the parallel run's own work
// costs (communication on the CPU included) plus what 8 processes sharing the cores cost it. Printed beside it:
// the same ratio for the compute threads only (smaller GEMMs, duplicated work), where the rest of the CPU went, the
// wall-time ratio (the CPU-time ratio scaled by how many cores each run keeps busy: one for the single rank), and
// the load average of each phase. The single rank runs before and after the 2×2×2 run; its figures are the mean of
// the two (they differ when the machine's load changed). docs/benchmarks.md#parallel-overhead explains the figures.
// Also each rank's peak RSS beside the single rank's: with tp 2 and pp 2 a rank holds about a quarter of the model.
// Usage: npm run bench -- parallel-overhead [--shape tiny|small] [--steps N] [--cpu-prof DIR] [--node-flags "FLAGS"]
//   (default small; the first step is a warm-up; --cpu-prof writes a V8 CPU profile of every process into DIR;
//   --node-flags passes node/V8 flags to every measured process, single rank and ranks alike, instead of the default
//   --single-threaded-gc: 8 processes on a few cores gain nothing from parallel GC helper threads, which only
//   compete for the cores)
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startNatsServer } from "../../runtime/nats-server.ts";
import { runProcesses } from "./parallel-overhead/run-processes.ts";
import { type Phase, printReport } from "./parallel-overhead/report.ts";
import { GLOBAL_MICROBATCHES, LAYOUT, type ProcessReport, shapeNamed, SHAPES } from "./parallel-overhead/shapes.ts";

const TARGET = 0.8;
const DEFAULT_NODE_FLAGS = "--single-threaded-gc";
const TIMEOUT_MS = 20 * 60_000;
const here = path.join(path.dirname(fileURLToPath(import.meta.url)), "parallel-overhead");

function parseArgs(argv: string[]): { shape: string; steps?: number; cpuProfDir?: string; nodeFlags: string[] } {
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    if (v === undefined || (v.startsWith("--") && flag !== "--node-flags")) throw new Error(`${flag} needs a value`);
    return v;
  };
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(
      `usage: npm run bench -- parallel-overhead [--shape ${Object.keys(SHAPES).join("|")}] [--steps N] [--cpu-prof DIR] [--node-flags "FLAGS"]`,
    );
    process.exit(0);
  }
  const known = ["--shape", "--steps", "--cpu-prof", "--node-flags"];
  for (let i = 0; i < argv.length; i++) {
    if (known.includes(argv[i]!))
      i++; // its value
    else if (argv[i]!.startsWith("--")) throw new Error(`unknown option ${argv[i]}`);
  }
  const shape = value("--shape") ?? "small";
  shapeNamed(shape);
  const s = value("--steps");
  const steps = s === undefined ? undefined : Number(s);
  if (steps !== undefined && !(Number.isInteger(steps) && steps >= 1)) throw new Error(`--steps must be a positive integer, got ${s}`);
  const cpuProf = value("--cpu-prof");
  const nodeFlags = (value("--node-flags") ?? DEFAULT_NODE_FLAGS).split(" ").filter(Boolean);
  return { shape, steps, cpuProfDir: cpuProf === undefined ? undefined : path.resolve(cpuProf), nodeFlags };
}

async function main(): Promise<void> {
  const { shape, steps: stepsOverride, cpuProfDir, nodeFlags: extraFlags } = parseArgs(process.argv.slice(2));
  const nodeFlags = [...extraFlags, ...(cpuProfDir ? ["--cpu-prof", "--cpu-prof-dir", cpuProfDir] : [])];
  const { config, steps: defaultSteps } = shapeNamed(shape);
  const steps = stepsOverride ?? defaultSteps;
  const tokens = steps * GLOBAL_MICROBATCHES * config.seqLen; // tokens of the timed steps
  console.log(
    `parallel-overhead: shape ${shape} (${config.layers} layers, d ${config.dModel}, ${config.heads} heads, seq ${config.seqLen}, vocab ${config.vocabSize}), ` +
      `${GLOBAL_MICROBATCHES} sequences/step, 1 warm-up + ${steps} timed steps; ${os.cpus().length} cores; ` +
      `node flags of every run: ${nodeFlags.join(" ") || "(none)"}`,
  );
  const singles = [await phase(() => runSingle(shape, nodeFlags))];
  const ranksPhase = await phase(async () => ({ ranks: await runRanks(shape, nodeFlags) }));
  singles.push(await phase(() => runSingle(shape, nodeFlags)));
  printReport({ shape, nodeFlags, tokens, singles, ranks: ranksPhase.ranks, ranksPhase, target: TARGET });
}

/** Runs `f`, with the load average (1 min) when it started and ended. */
async function phase<T extends object>(f: () => Promise<T>): Promise<T & Phase> {
  const before = os.loadavg()[0]!;
  const r = await f();
  return { ...r, load: [before, os.loadavg()[0]!] };
}

async function runSingle(shape: string, nodeFlags: string[]): Promise<ProcessReport> {
  const [single] = await runProcesses(path.join(here, "single-rank.ts"), [shape], TIMEOUT_MS, nodeFlags);
  return single!;
}

async function runRanks(shape: string, nodeFlags: string[]): Promise<ProcessReport[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "troupe-bench-overhead-"));
  const server = await startNatsServer({ dir });
  try {
    const session = `overhead-${process.pid}-${Date.now()}`;
    const keyHex = randomBytes(32).toString("hex");
    const world = LAYOUT.dp * LAYOUT.pp * LAYOUT.tp;
    const args = Array.from({ length: world }, (_, rank) => JSON.stringify({ natsUrl: server.url, session, keyHex, rank, shape }));
    return await runProcesses(path.join(here, "rank.ts"), args, TIMEOUT_MS, nodeFlags);
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(`parallel-overhead: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
