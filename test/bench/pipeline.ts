// Bubble fraction of each pipeline schedule, measured by running every stage's instruction list together in
// the schedule simulator, next to the textbook (p−1)/(v·m+p−1).
// Two transfer orders: "rendezvous" lists run with sends that block until received (NCCL-like), "eager" lists
// with buffered sends (the CPU backend). Pass costs per chunk: "equal" (forward = backward), "1:2" (backward
// twice the forward), "measured" (each pass takes the wall time of real fp32 GEMMs timed in this run:
// forward 1 GEMM, backward 2).
import { bubbleFormula, simulateSchedules, type SimulationCosts } from "../../ml/parallel/schedule-simulator.ts";
import { pipelineSchedules, type TransferOrder } from "../../ml/parallel/schedules.ts";
import type { ScheduleKind } from "../../ml/parallel/schedule-types.ts";

function matmul(a: Float32Array, b: Float32Array, c: Float32Array, n: number): void {
  c.fill(0);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k]!;
      for (let j = 0; j < n; j++) c[i * n + j]! += aik * b[k * n + j]!;
    }
}

function measureGemmMs(samples: number, n = 48): number[] {
  const a = Float32Array.from({ length: n * n }, (_, i) => Math.sin(i));
  const b = Float32Array.from({ length: n * n }, (_, i) => Math.cos(i));
  const c = new Float32Array(n * n);
  for (let i = 0; i < 20; i++) matmul(a, b, c, n); // warm up the JIT
  return Array.from({ length: samples }, () => {
    const t = performance.now();
    matmul(a, b, c, n);
    return performance.now() - t;
  });
}

// drop the slowest 2% (the OS preempting this process on a shared machine, not the op itself)
const gemm = (() => {
  const raw = measureGemmMs(2000);
  const cut = [...raw].sort((a, b) => a - b)[Math.floor(raw.length * 0.98)]!;
  return raw.filter((t) => t <= cut);
})();
const meanGemm = gemm.reduce((x, y) => x + y, 0) / gemm.length;
const pick = (s: number, c: number, mb: number, salt: number) => gemm[(s * 7919 + c * 104729 + mb * 31 + salt * 613) % gemm.length]!;
const costs = (v: number): Record<string, SimulationCosts> => ({
  equal: { forward: () => 1 / v, backward: () => 1 / v },
  "1:2": { forward: () => 1 / v, backward: () => 2 / v },
  measured: {
    forward: (s, c, mb) => pick(s, c, mb, 0) / v,
    backward: (s, c, mb) => (pick(s, c, mb, 1) + pick(s, c, mb, 2)) / v,
  },
});

interface Row {
  kind: ScheduleKind;
  p: number;
  m: number;
  v: number;
  cost: string;
  rendezvous: number;
  eager: number;
  formula: number;
}
const rows: Row[] = [];
const configs: [ScheduleKind, number, number, number][] = [];
for (const [p, m] of [
  [2, 8],
  [4, 8],
  [4, 16],
  [8, 16],
  [8, 32],
] as const) {
  configs.push(["gpipe", p, m, 1], ["1f1b", p, m, 1], ["interleaved", p, m, 2], ["interleaved", p, m, 4]);
}
console.log(`measured-op cost: fp32 48×48 GEMM, mean ${(meanGemm * 1000).toFixed(1)} µs over ${gemm.length} runs`);
console.log("kind         p   m  v  cost      rendezvous  eager    formula");
for (const [kind, p, m, v] of configs) {
  const shape = { stages: p, microbatches: m, virtualStages: v };
  const lists: Record<TransferOrder, ReturnType<typeof pipelineSchedules>> = {
    rendezvous: pipelineSchedules(kind, p, m, v, "rendezvous"),
    eager: pipelineSchedules(kind, p, m, v, "eager"),
  };
  for (const [cost, c] of Object.entries(costs(v))) {
    const rendezvous = simulateSchedules(lists.rendezvous, shape, { mode: "rendezvous", costs: c }).bubbleFraction;
    const eager = simulateSchedules(lists.eager, shape, { mode: "buffered", costs: c }).bubbleFraction;
    const formula = bubbleFormula(p, m, v);
    rows.push({ kind, p, m, v, cost, rendezvous, eager, formula });
    console.log(
      `${kind.padEnd(12)} ${String(p).padStart(2)} ${String(m).padStart(3)} ${String(v).padStart(2)}  ${cost.padEnd(8)}  ` +
        `${rendezvous.toFixed(4).padStart(10)}  ${eager.toFixed(4)}   ${formula.toFixed(4)}`,
    );
  }
}

const maxDiff = (f: (r: Row) => boolean, col: "rendezvous" | "eager") =>
  Math.max(...rows.filter(f).map((r) => Math.abs(r[col] - r.formula)));
const analytic = (r: Row) => r.cost !== "measured";
const eagerAll = maxDiff(analytic, "eager");
const rendezvousFlat = maxDiff((r) => analytic(r) && r.kind !== "interleaved", "rendezvous");
const rendezvousInterleavedEqual = maxDiff((r) => r.kind === "interleaved" && r.cost === "equal", "rendezvous");
const get = (kind: ScheduleKind, p: number, m: number, v: number, cost: string) =>
  rows.find((r) => r.kind === kind && r.p === p && r.m === m && r.v === v && r.cost === cost)!;
const gain = get("1f1b", 8, 16, 1, "1:2").eager / get("interleaved", 8, 16, 4, "1:2").eager;
const formulaGain = bubbleFormula(8, 16) / bubbleFormula(8, 16, 4);
const figures = {
  maxAbsDiffEagerAllKinds: eagerAll,
  maxAbsDiffRendezvousGpipe1f1b: rendezvousFlat,
  maxAbsDiffRendezvousInterleavedEqualCost: rendezvousInterleavedEqual,
  bubble1f1bP8M16: get("1f1b", 8, 16, 1, "1:2").eager,
  bubbleInterleavedV4P8M16Eager: get("interleaved", 8, 16, 4, "1:2").eager,
  bubbleInterleavedV4P8M16Rendezvous: get("interleaved", 8, 16, 4, "1:2").rendezvous,
  bubbleInterleavedV4P8M16MeasuredEager: get("interleaved", 8, 16, 4, "measured").eager,
  interleavingBubbleReductionV4: gain,
  meanGemmMicros: meanGemm * 1000,
};
const target = (op: "<=" | ">=", value: number, actual: number) => ({
  op,
  value,
  actual,
  met: op === "<=" ? actual <= value : actual >= value,
});
console.log(
  JSON.stringify({
    bench: "pipeline",
    figures,
    targets: {
      maxAbsDiffEagerAllKinds: target("<=", 1e-9, eagerAll),
      maxAbsDiffRendezvousGpipe1f1b: target("<=", 1e-9, rendezvousFlat),
      maxAbsDiffRendezvousInterleavedEqualCost: target("<=", 1e-9, rendezvousInterleavedEqual),
      // bubble reduction of interleaving (v 4) over 1F1B at p 8, m 16, backward 2× forward, against the formulas
      interleavingBubbleReductionV4: target(">=", formulaGain * 0.99, gain),
    },
  }),
);
