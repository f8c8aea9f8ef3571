// Training throughput on one thread: tokens/s and model FLOP/s (6·params + 12·layers·seq·d per token) for two
// GPT shapes, as a fraction of this machine's single-thread SGEMM peak measured in the same run; peak RSS and
// bytes per parameter. Each shape runs in its own child process so its peak RSS is its own.
// The machine may be shared: rates use process CPU time (all threads), which other processes do not inflate;
// wall-clock rates are printed too.
// Usage: npm run bench -- train-throughput [--steps N] [--shapes tiny,small]
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createGpt, modelFlopsPerToken } from "../../ml/model/mod.ts";
import type { GptConfig } from "../../ml/model/types.ts";
import { createAdamW } from "../../ml/optim/mod.ts";
import { addon } from "../../native/addon.ts";
import { blasConfig, setBlasThreads } from "../../native/mod.ts";

interface Shape {
  config: GptConfig;
  batch: number;
  steps: number;
  target: number; // fraction of SGEMM peak
}

const SHAPES: Record<string, Shape> = {
  tiny: { config: { layers: 4, dModel: 256, heads: 4, seqLen: 128, vocabSize: 4096 }, batch: 8, steps: 8, target: 0.6 },
  small: { config: { layers: 12, dModel: 768, heads: 12, seqLen: 256, vocabSize: 8192 }, batch: 4, steps: 3, target: 0.7 },
};
const SMALL_RSS_LIMIT = 2.5e9;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Single-thread SGEMM FLOP/s (by CPU time) on square 1024 matrices: median of several timed calls. */
function sgemmPeak(): number {
  const n = 1024;
  const a = addon.alloc(n * n).fill(0.5),
    b = addon.alloc(n * n).fill(0.25),
    c = addon.alloc(n * n);
  addon.runSync("gemm", 0, 0, n, n, n, 1, a, b, 0, c);
  const rates: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t = cpuSeconds();
    addon.runSync("gemm", 0, 0, n, n, n, 1, a, b, 0, c);
    rates.push((2 * n ** 3) / (cpuSeconds() - t));
  }
  return median(rates);
}

async function runShape(name: string, stepsOverride?: number): Promise<void> {
  setBlasThreads(1);
  const shape = SHAPES[name]!;
  const steps = stepsOverride ?? shape.steps;
  const { config, batch } = shape;
  const model = await createGpt(config, { seed: 1234 });
  const opt = createAdamW(model);
  const n = batch * config.seqLen;
  let seed = 99;
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % config.vocabSize;
  const inputs = Int32Array.from({ length: n }, rand),
    targets = Int32Array.from({ length: n }, rand);
  const peakBefore = sgemmPeak();
  const cpuTimes: number[] = [],
    wallTimes: number[] = [];
  let loss = 0;
  for (let s = 0; s <= steps; s++) {
    const t = performance.now(),
      c = cpuSeconds();
    await model.zeroGrad();
    loss = (await model.forwardBackward(inputs, targets, batch, 1)).loss;
    await opt.step(1e-4, 1);
    if (s === 0) continue; // warm-up: allocations, page faults
    cpuTimes.push(cpuSeconds() - c);
    wallTimes.push((performance.now() - t) / 1000);
  }
  const peak = Math.max(peakBefore, sgemmPeak());
  const stepSeconds = median(cpuTimes),
    wallSeconds = median(wallTimes);
  const params = model.parameterCount();
  const flopsPerToken = modelFlopsPerToken(config);
  const rss = process.resourceUsage().maxRSS * 1024;
  console.log(
    JSON.stringify({
      name,
      params,
      stepSeconds,
      wallSeconds,
      tokensPerSecond: n / stepSeconds,
      modelFlops: (flopsPerToken * n) / stepSeconds,
      peak,
      rss,
      loss,
    }),
  );
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (flag: string) => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const child = opt("--child");
  const steps = opt("--steps") ? Number(opt("--steps")) : undefined;
  if (steps !== undefined && !(Number.isInteger(steps) && steps >= 1))
    throw new Error(`--steps must be a positive integer, got ${opt("--steps")}`);
  if (child) return runShape(child, steps);

  const names = (opt("--shapes") ?? "tiny,small").split(",");
  for (const n of names) if (!SHAPES[n]) throw new Error(`unknown shape '${n}'; available: ${Object.keys(SHAPES).join(", ")}`);
  console.log(`train-throughput: one BLAS thread, ${blasConfig()}`);
  const figures: Record<string, number> = {};
  const targets: Record<string, { op: string; value: number; actual: number; met: boolean }> = {};
  const self = fileURLToPath(import.meta.url);
  for (const name of names) {
    const r = spawnSync(process.execPath, ["--import", "tsx", self, "--child", name, ...(steps ? ["--steps", String(steps)] : [])], {
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`shape ${name} failed (exit ${r.status}):\n${r.stderr}`);
    const m = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as {
      params: number;
      stepSeconds: number;
      wallSeconds: number;
      tokensPerSecond: number;
      modelFlops: number;
      peak: number;
      rss: number;
      loss: number;
    };
    const fraction = m.modelFlops / m.peak;
    const shape = SHAPES[name]!;
    console.log(
      `${name.padEnd(6)} ${(m.params / 1e6).toFixed(2)}M params, batch ${shape.batch}×${shape.config.seqLen}: ` +
        `${m.stepSeconds.toFixed(3)} CPU s/step (wall ${m.wallSeconds.toFixed(3)}), ${m.tokensPerSecond.toFixed(0)} tokens/s, ` +
        `${(m.modelFlops / 1e9).toFixed(1)} GFLOP/s model = ${(fraction * 100).toFixed(1)}% of SGEMM peak ${(m.peak / 1e9).toFixed(1)} GFLOP/s; ` +
        `peak RSS ${(m.rss / 1e9).toFixed(2)} GB = ${(m.rss / m.params).toFixed(1)} bytes/param; loss ${m.loss.toFixed(3)}`,
    );
    Object.assign(figures, {
      [`${name}_tokens_per_s`]: m.tokensPerSecond,
      [`${name}_model_gflops`]: m.modelFlops / 1e9,
      [`${name}_sgemm_peak_gflops`]: m.peak / 1e9,
      [`${name}_fraction_of_peak`]: fraction,
      [`${name}_peak_rss_bytes`]: m.rss,
      [`${name}_bytes_per_param`]: m.rss / m.params,
      [`${name}_step_cpu_seconds`]: m.stepSeconds,
      [`${name}_step_wall_seconds`]: m.wallSeconds,
      [`${name}_tokens_per_wall_s`]: (shape.batch * shape.config.seqLen) / m.wallSeconds,
    });
    targets[`${name}_fraction_of_peak`] = { op: ">=", value: shape.target, actual: fraction, met: fraction >= shape.target };
    if (name === "small") targets.small_peak_rss_bytes = { op: "<=", value: SMALL_RSS_LIMIT, actual: m.rss, met: m.rss <= SMALL_RSS_LIMIT };
  }
  console.log(JSON.stringify({ bench: "train-throughput", figures, targets }));
}

main().catch((e: unknown) => {
  console.error(`train-throughput: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
