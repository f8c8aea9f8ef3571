// What the parallel-overhead benchmark prints: the labelled ratios (by CPU time, by CPU time of the compute threads
// only, by wall time), where each run's CPU went, how busy the machine was, and the memory figures; and the
// machine-readable figures line.
import { LAYOUT, MICROBATCHES, type ProcessReport } from "./shapes.ts";

const GB = 1e9;

export interface Phase {
  /** load average (1 min) when the phase started and ended */
  load: [number, number];
}

export interface Measured {
  shape: string;
  nodeFlags: string[];
  /** tokens of the timed steps */
  tokens: number;
  /** the single rank, run before and after the 2×2×2 run */
  singles: (ProcessReport & Phase)[];
  ranks: ProcessReport[];
  ranksPhase: Phase;
  target: number;
}

const sum = (rs: readonly ProcessReport[], f: (r: ProcessReport) => number) => rs.reduce((n, r) => n + f(r), 0);
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
/** CPU of the threads other than the main one: the native kernels (libuv pool), V8's compiler threads. */
const computeCpu = (r: ProcessReport) => r.cpuSeconds - r.mainThreadCpuSeconds;
const load = (p: Phase) => `${p.load[0].toFixed(1)} → ${p.load[1].toFixed(1)}`;

/** Prints the report, then the machine-readable figures line. */
export function printReport(m: Measured): void {
  const { singles, ranks, tokens } = m;
  // the single rank's figures: the mean of its runs before and after the 2×2×2 run (a load change between the
  // phases shows as a difference between the two)
  const single = (f: (r: ProcessReport) => number) => mean(singles.map(f));
  const sCpu = single((r) => r.cpuSeconds),
    pCpu = sum(ranks, (r) => r.cpuSeconds);
  const sWall = single((r) => r.wallSeconds),
    pWall = Math.max(...ranks.map((r) => r.wallSeconds));
  const ratioCpu = sCpu / pCpu;
  const ratioCompute = single(computeCpu) / sum(ranks, computeCpu);
  const ratioWall = sWall / pWall;
  console.log(`load average (1 min) during each run: single ${singles.map(load).join(", then ")}; 2×2×2 ${load(m.ranksPhase)}`);
  console.log(`tokens per CPU-second (user + system, every thread of every process, timed steps only):`);
  console.log(`  single rank: ${(tokens / sCpu).toFixed(0)} (runs: ${singles.map((r) => (tokens / r.cpuSeconds).toFixed(0)).join(", ")})`);
  console.log(`  2×2×2 1F1B : ${(tokens / pCpu).toFixed(0)} (8 processes sharing the cores)`);
  console.log(
    `  ratio ${ratioCpu.toFixed(3)} by CPU time (target ≥ ${m.target}): the 2×2×2 run's own work, communication included, and what sharing the cores costs it`,
  );
  console.log(`where the CPU went (s)${" ".repeat(35)}single   2×2×2`);
  const row = (label: string, s: number, p: number) =>
    console.log(`  ${label.padEnd(52)} ${s.toFixed(1).padStart(6)}  ${p.toFixed(1).padStart(6)}`);
  row("compute threads (native kernels, JIT)", single(computeCpu), sum(ranks, computeCpu));
  row(
    "main thread, user (JS: collectives, schedule, GC)",
    single((r) => r.mainThreadUserSeconds),
    sum(ranks, (r) => r.mainThreadUserSeconds),
  );
  row(
    "main thread, system (sockets, page faults)",
    single((r) => r.mainThreadSystemSeconds),
    sum(ranks, (r) => r.mainThreadSystemSeconds),
  );
  console.log(`  ratio ${ratioCompute.toFixed(3)} by CPU time of the compute threads only: what smaller GEMMs and duplicated work cost`);
  const busy = (cpu: number, wall: number) => (cpu / wall).toFixed(2);
  console.log(
    `tokens per wall-second: single ${(tokens / sWall).toFixed(0)} (one process keeping ${busy(sCpu, sWall)} cores busy), ` +
      `2×2×2 ${(tokens / pWall).toFixed(0)} (keeping ${busy(pCpu, pWall)} cores busy)`,
  );
  console.log(
    `  ratio ${ratioWall.toFixed(3)} by wall time = the CPU-time ratio × the cores the 2×2×2 run keeps busy ÷ those the single rank keeps busy`,
  );
  const sched = (rs: readonly ProcessReport[]) =>
    `run-queue wait ${sum(rs, (r) => r.runQueueSeconds).toFixed(1)} s, context switches ${sum(rs, (r) => r.voluntarySwitches)} voluntary ${sum(rs, (r) => r.involuntarySwitches)} forced`;
  console.log(`scheduling: single (last run) ${sched(singles.slice(-1))}; 2×2×2 (all ranks) ${sched(ranks)}`);
  const first = singles[0]!;
  const lossDiff = Math.abs(ranks[0]!.firstLoss - first.firstLoss) / Math.abs(first.firstLoss);
  console.log(
    `warm-up loss: single ${first.firstLoss.toFixed(6)}, 2×2×2 ${ranks[0]!.firstLoss.toFixed(6)} (relative difference ${lossDiff.toExponential(1)})`,
  );
  const figures: Record<string, number> = {
    shape_small: m.shape === "small" ? 1 : 0,
    microbatches_per_replica: MICROBATCHES,
    single_threaded_gc: m.nodeFlags.includes("--single-threaded-gc") ? 1 : 0,
    load_single_first: first.load[0],
    load_ranks: m.ranksPhase.load[0],
    single_tokens_per_cpu_s: tokens / sCpu,
    single_tokens_per_wall_s: tokens / sWall,
    parallel_tokens_per_cpu_s: tokens / pCpu,
    parallel_tokens_per_wall_s: tokens / pWall,
    ratio_cpu: ratioCpu,
    ratio_cpu_compute_threads: ratioCompute,
    ratio_wall: ratioWall,
    single_cpu_s: sCpu,
    parallel_cpu_s: pCpu,
    parallel_main_thread_user_s: sum(ranks, (r) => r.mainThreadUserSeconds),
    parallel_main_thread_system_s: sum(ranks, (r) => r.mainThreadSystemSeconds),
    warmup_loss_relative_difference: lossDiff,
    ...memory(first, ranks),
  };
  console.log(
    JSON.stringify({
      bench: "parallel-overhead",
      figures,
      targets: { ratio_cpu: { op: ">=", value: m.target, actual: ratioCpu, met: ratioCpu >= m.target } },
    }),
  );
}

/** Prints the memory table (each rank against the single rank); returns its figures. */
function memory(s: ProcessReport, ranks: readonly ProcessReport[]): Record<string, number> {
  const state = (r: ProcessReport) => r.maxRssBytes - r.baselineRssBytes;
  const built = (r: ProcessReport) => r.builtRssBytes - r.baselineRssBytes;
  console.log(
    `single rank: ${(s.params / 1e6).toFixed(2)}M params, peak RSS ${(s.maxRssBytes / GB).toFixed(2)} GB; peak RSS − RSS before the model ("state") ${(state(s) / GB).toFixed(2)} GB, ` +
      `of which ${(built(s) / GB).toFixed(2)} GB allocated when the model and optimizer are built ("built"); the rest grows during steps (activations, optimizer moments, buffers)`,
  );
  console.log(
    "rank  (d,p,t)  params    peak RSS   RSS / single   state / single   built / single   CPU s   main user s   main sys s   GC s",
  );
  const figures: Record<string, number> = {
    single_peak_rss_bytes: s.maxRssBytes,
    single_params: s.params,
    single_state_bytes: state(s),
    single_built_bytes: built(s),
  };
  for (const r of ranks) {
    const t = r.rank % LAYOUT.tp,
      d = Math.floor(r.rank / LAYOUT.tp) % LAYOUT.dp,
      p = Math.floor(r.rank / (LAYOUT.tp * LAYOUT.dp));
    console.log(
      `${String(r.rank).padStart(4)}  (${d},${p},${t})  ${(r.params / 1e6).toFixed(2).padStart(6)}M  ${(r.maxRssBytes / GB).toFixed(2).padStart(6)} GB  ` +
        `${(r.maxRssBytes / s.maxRssBytes).toFixed(3).padStart(12)}  ${(state(r) / state(s)).toFixed(3).padStart(15)}  ${(built(r) / built(s)).toFixed(3).padStart(15)}  ` +
        `${r.cpuSeconds.toFixed(1).padStart(6)}  ${r.mainThreadUserSeconds.toFixed(2).padStart(11)}  ${r.mainThreadSystemSeconds.toFixed(2).padStart(10)}  ${r.gcSeconds.toFixed(2).padStart(5)}`,
    );
    figures[`rank${r.rank}_peak_rss_bytes`] = r.maxRssBytes;
    figures[`rank${r.rank}_params`] = r.params;
    figures[`rank${r.rank}_main_thread_cpu_s`] = r.mainThreadCpuSeconds;
    figures[`rank${r.rank}_gc_s`] = r.gcSeconds;
  }
  figures.max_rank_built_over_single = Math.max(...ranks.map(built)) / built(s);
  figures.max_rank_state_over_single = Math.max(...ranks.map(state)) / state(s);
  figures.max_rank_rss_over_single = Math.max(...ranks.map((r) => r.maxRssBytes)) / s.maxRssBytes;
  return figures;
}
