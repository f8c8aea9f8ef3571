// Overhead of 3D parallelism: tokens/s of a dp×pp×tp = 2×2×2 run (8 real rank processes, 1F1B, CPU collectives
// over sockets, rendezvous through a private nats-server) against one rank training the same model on the same
// global batch (16 sequences per step = 2 replicas × 8 micro-batches of 1), both measured in this run.
// This machine has few cores, so 8 processes cannot be faster than one: the headline ratio compares total CPU
// time (user + system, all threads, summed over the processes) per token, i.e. the work parallelism adds
// (communication, smaller GEMMs, duplicated LayerNorms/biases, pipeline bookkeeping). Wall-clock rates are
// printed too (the 8 ranks share all cores, the single rank uses one BLAS thread).
// Also each rank's peak RSS beside the single rank's: with tp 2 and pp 2 a rank holds about a quarter of the model.
// Usage: npm run bench -- parallel-overhead [--shape tiny|small] [--steps N] [--cpu-prof DIR] [--node-flags "FLAGS"]
//   (default small; the first step is a warm-up; --cpu-prof writes a V8 CPU profile of every process into DIR;
//   --node-flags passes node/V8 flags to every measured process, single rank and ranks alike, instead of the default
//   --single-threaded-gc: 8 processes on a few cores gain nothing from parallel GC helper threads, which only
//   compete for the cores; measured here they cost ~8% of the ranks' CPU time)
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startNatsServer } from "../../runtime/nats-server.ts";
import { runProcesses } from "./parallel-overhead/run-processes.ts";
import { GLOBAL_MICROBATCHES, LAYOUT, MICROBATCHES, type ProcessReport, shapeNamed, SHAPES } from "./parallel-overhead/shapes.ts";

const TARGET = 0.8;
const DEFAULT_NODE_FLAGS = "--single-threaded-gc";
const here = path.join(path.dirname(fileURLToPath(import.meta.url)), "parallel-overhead");
const GB = 1e9;

function parseArgs(argv: string[]): { shape: string; steps?: number; cpuProfDir?: string; nodeFlags: string[] } {
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    if (v === undefined || (v.startsWith("--") && flag !== "--node-flags")) throw new Error(`${flag} needs a value`);
    return v;
  };
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(`usage: npm run bench -- parallel-overhead [--shape ${Object.keys(SHAPES).join("|")}] [--steps N] [--cpu-prof DIR] [--node-flags "FLAGS"]`);
    process.exit(0);
  }
  const known = ["--shape", "--steps", "--cpu-prof", "--node-flags"];
  for (let i = 0; i < argv.length; i++) {
    if (known.includes(argv[i]!)) i++; // its value
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
  const timeoutMs = 20 * 60_000;
  console.log(
    `parallel-overhead: shape ${shape} (${config.layers} layers, d ${config.dModel}, ${config.heads} heads, seq ${config.seqLen}, vocab ${config.vocabSize}), ` +
      `${GLOBAL_MICROBATCHES} sequences/step, 1 warm-up + ${steps} timed steps; ${os.cpus().length} cores, load ${os.loadavg()[0]!.toFixed(1)}; ` +
      `node flags of both runs: ${nodeFlags.join(" ") || "(none)"}`,
  );

  const [single] = await runProcesses(path.join(here, "single-rank.ts"), [shape], timeoutMs, nodeFlags);
  const s = single!;
  const dir = mkdtempSync(path.join(os.tmpdir(), "troupe-bench-overhead-"));
  const server = await startNatsServer({ dir });
  let ranks: ProcessReport[];
  try {
    const session = `overhead-${process.pid}-${Date.now()}`;
    const world = LAYOUT.dp * LAYOUT.pp * LAYOUT.tp;
    ranks = await runProcesses(
      path.join(here, "rank.ts"),
      Array.from({ length: world }, (_, rank) => JSON.stringify({ natsUrl: server.url, session, rank, shape })),
      timeoutMs,
      nodeFlags,
    );
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }

  const parCpu = ranks.reduce((n, r) => n + r.cpuSeconds, 0);
  const parWall = Math.max(...ranks.map((r) => r.wallSeconds));
  const cpuRatio = s.cpuSeconds / parCpu;
  const wallRatio = s.wallSeconds / parWall;
  const lossDiff = Math.abs(ranks[0]!.firstLoss - s.firstLoss) / Math.abs(s.firstLoss);
  console.log(
    `single rank : ${(tokens / s.cpuSeconds).toFixed(0)} tokens/CPU-s, ${(tokens / s.wallSeconds).toFixed(0)} tokens/wall-s ` +
      `(${s.cpuSeconds.toFixed(1)} CPU s, ${s.wallSeconds.toFixed(1)} wall s), ${(s.params / 1e6).toFixed(2)}M params, peak RSS ${(s.maxRssBytes / GB).toFixed(2)} GB`,
  );
  console.log(
    `2×2×2 1F1B  : ${(tokens / parCpu).toFixed(0)} tokens/CPU-s, ${(tokens / parWall).toFixed(0)} tokens/wall-s ` +
      `(${parCpu.toFixed(1)} CPU s over ${ranks.length} processes, ${parWall.toFixed(1)} wall s)`,
  );
  console.log(`ratio 2×2×2 / single: ${cpuRatio.toFixed(3)} by CPU time (target ≥ ${TARGET}), ${wallRatio.toFixed(3)} by wall time`);
  console.log(`warm-up loss: single ${s.firstLoss.toFixed(6)}, 2×2×2 ${ranks[0]!.firstLoss.toFixed(6)} (relative difference ${lossDiff.toExponential(1)})`);
  const state = (r: ProcessReport) => r.maxRssBytes - r.baselineRssBytes;
  const built = (r: ProcessReport) => r.builtRssBytes - r.baselineRssBytes;
  console.log(
    `single rank: peak RSS − RSS before the model ("state") ${(state(s) / GB).toFixed(2)} GB, of which ${(built(s) / GB).toFixed(2)} GB ` +
      `allocated when the model and optimizer are built ("built"); the rest grows during steps (activations, optimizer moments, buffers)`,
  );
  console.log(`single rank: main (JS) thread CPU ${s.mainThreadCpuSeconds.toFixed(1)} s, GC ${s.gcSeconds.toFixed(2)} s of the timed steps`);
  console.log("rank  (d,p,t)  params    peak RSS   RSS / single   state / single   built / single   CPU s   main CPU s   GC s");
  const figures: Record<string, number> = {
    single_tokens_per_cpu_s: tokens / s.cpuSeconds, single_tokens_per_wall_s: tokens / s.wallSeconds,
    parallel_tokens_per_cpu_s: tokens / parCpu, parallel_tokens_per_wall_s: tokens / parWall,
    ratio_cpu: cpuRatio, ratio_wall: wallRatio, single_peak_rss_bytes: s.maxRssBytes, single_params: s.params,
    warmup_loss_relative_difference: lossDiff,
  };
  for (const r of ranks) {
    const t = r.rank % LAYOUT.tp, d = Math.floor(r.rank / LAYOUT.tp) % LAYOUT.dp, p = Math.floor(r.rank / (LAYOUT.tp * LAYOUT.dp));
    console.log(
      `${String(r.rank).padStart(4)}  (${d},${p},${t})  ${(r.params / 1e6).toFixed(2).padStart(6)}M  ${(r.maxRssBytes / GB).toFixed(2).padStart(6)} GB  ` +
        `${(r.maxRssBytes / s.maxRssBytes).toFixed(3).padStart(12)}  ${(state(r) / state(s)).toFixed(3).padStart(15)}  ${(built(r) / built(s)).toFixed(3).padStart(15)}  ${r.cpuSeconds.toFixed(1).padStart(6)}  ${r.mainThreadCpuSeconds.toFixed(2).padStart(10)}  ${r.gcSeconds.toFixed(2).padStart(5)}`,
    );
    figures[`rank${r.rank}_peak_rss_bytes`] = r.maxRssBytes;
    figures[`rank${r.rank}_params`] = r.params;
    figures[`rank${r.rank}_main_thread_cpu_s`] = r.mainThreadCpuSeconds;
    figures[`rank${r.rank}_gc_s`] = r.gcSeconds;
  }
  figures.single_state_bytes = state(s);
  figures.single_built_bytes = built(s);
  figures.max_rank_built_over_single = Math.max(...ranks.map(built)) / built(s);
  figures.max_rank_state_over_single = Math.max(...ranks.map(state)) / state(s);
  figures.max_rank_rss_over_single = Math.max(...ranks.map((r) => r.maxRssBytes)) / s.maxRssBytes;
  console.log(
    JSON.stringify({
      bench: "parallel-overhead",
      figures: { shape_small: shape === "small" ? 1 : 0, microbatches_per_replica: MICROBATCHES, single_threaded_gc: nodeFlags.includes("--single-threaded-gc") ? 1 : 0, ...figures },
      targets: { ratio_cpu: { op: ">=", value: TARGET, actual: cpuRatio, met: cpuRatio >= TARGET } },
    }),
  );
}

main().catch((e: unknown) => {
  console.error(`parallel-overhead: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
