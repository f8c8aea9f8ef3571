// ZeRO-1 (parallel.zero: 1): optimizer memory per worker against dp, and the step-time overhead against plain data
// parallelism at dp 2.
// - Memory: the AdamW moments one worker holds for the bench model (ZeroAdamW's own allocation) at dp 1, 2 and 4:
//   its own shard (target: the whole moments / dp) and, separately, the ring neighbour's copy kept for recovery
//   without disk (another 1/dp; at dp 2 the two make the whole moments again).
// - Step time: 2 real rank processes over loopback TCP (rendezvous through a private nats-server), each holding the
//   same model twice, trained plain and with ZeRO-1, steps interleaved plain/zero so both see the same load; the
//   ratio of the median step times (target ≤ 1.05). At dp 2 a ZeRO-1 rank keeps the other half's moments as its
//   neighbour's copy, so it reduces the whole gradient (in the executor's buckets, during backward, as plain data
//   parallelism does) and updates both halves itself, with no all-gather (ml/optim/zero-adamw.ts).
// Usage: npm run bench -- zero [--steps N]   (default 12 timed steps of each kind after one warm-up pair)
// Prints the figures with their targets; the last line is one JSON object.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gptParameterLayout } from "../../ml/model/param-layout.ts";
import type { GptConfig } from "../../ml/model/types.ts";
import { ZeroAdamW } from "../../ml/optim/zero-adamw.ts";
import type { Collectives } from "../../runtime/collectives/types.ts";
import { startNatsServer } from "../../runtime/nats-server.ts";

const CONFIG: GptConfig = { vocabSize: 2048, seqLen: 64, layers: 4, dModel: 128, heads: 4 };
const MICRO_BATCH = 2;
const MICROBATCHES = 2;
const TIME_TARGET = 1.05;
const here = path.join(path.dirname(fileURLToPath(import.meta.url)), "zero");

/** Moment bytes a worker at dp position 0 holds, from ZeroAdamW's allocation (no communication needed for that). */
function momentBytes(dp: number): { own: number; backup: number; whole: number } {
  const params = gptParameterLayout(CONFIG).map((p) => ({
    name: p.name,
    shape: p.shape,
    data: new Float32Array(p.shape.reduce((a, b) => a * b, 1)),
  }));
  const group = { rank: 0, size: dp, ranks: Array.from({ length: dp }, (_, i) => i) } as unknown as Collectives;
  const z = new ZeroAdamW({ parameters: () => params, gradients: () => params }, {}, { group });
  const whole = 8 * params.reduce((s, p) => s + p.data.length, 0);
  return { ...z.stateBytes, whole };
}

function runRank(args: object): Promise<{ plain: number[]; zero: number[] }> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(here, "rank.ts"), JSON.stringify(args)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "",
    err = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  return new Promise((resolve, reject) =>
    child.once("exit", (code) => {
      const line = out.split("\n").find((l) => l.includes('"done":true'));
      if (code === 0 && line) resolve(JSON.parse(line) as { plain: number[]; zero: number[] });
      else reject(new Error(`rank exited with ${code}: ${err || out}`));
    }),
  );
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function stepTimes(steps: number): Promise<{ plainMs: number; zeroMs: number; ratio: number }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "troupe-bench-zero-"));
  const server = await startNatsServer({ dir });
  try {
    const common = { natsUrl: server.url, session: `zero-${process.pid}-${Date.now()}`, keyHex: randomBytes(32).toString("hex"), dp: 2 };
    const ranks = await Promise.all(
      [0, 1].map((rank) => runRank({ ...common, rank, config: CONFIG, microBatch: MICRO_BATCH, microbatches: MICROBATCHES, steps })),
    );
    // a step ends for both ranks together (the gather); rank 0's clock is the step's
    const plainMs = median(ranks[0]!.plain),
      zeroMs = median(ranks[0]!.zero);
    return { plainMs, zeroMs, ratio: zeroMs / plainMs };
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const i = process.argv.indexOf("--steps");
  const steps = i < 0 ? 12 : Number(process.argv[i + 1]);
  if (!(Number.isInteger(steps) && steps >= 2)) throw new Error(`--steps must be an integer ≥ 2`);
  const params = gptParameterLayout(CONFIG).reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
  console.log(
    `zero: model ${CONFIG.layers} layers, d ${CONFIG.dModel}, vocab ${CONFIG.vocabSize}, seq ${CONFIG.seqLen} (${params} parameters); ${os.cpus().length} cores, load ${os.loadavg()[0]!.toFixed(1)}`,
  );
  const memory = [1, 2, 4].map((dp) => ({ dp, ...momentBytes(dp) }));
  for (const m of memory) {
    console.log(
      `  dp ${m.dp}: own moments ${(m.own / 2 ** 20).toFixed(2)} MiB = ${(m.own / m.whole).toFixed(3)} of whole (target 1/dp = ${(1 / m.dp).toFixed(3)}), ` +
        `+ neighbour's copy ${(m.backup / 2 ** 20).toFixed(2)} MiB (${(m.backup / m.whole).toFixed(3)})`,
    );
  }
  const t = await stepTimes(steps);
  console.log(
    `  dp 2 step time (median of ${steps}, interleaved): plain ${t.plainMs.toFixed(1)} ms, ZeRO-1 ${t.zeroMs.toFixed(1)} ms, ratio ${t.ratio.toFixed(3)} (target ≤ ${TIME_TARGET})`,
  );
  const memoryOk = memory.every((m) => Math.abs(m.own / m.whole - 1 / m.dp) < 1e-3);
  console.log(
    JSON.stringify({
      bench: "zero",
      parameters: params,
      memory: memory.map((m) => ({ dp: m.dp, ownBytes: m.own, backupBytes: m.backup, wholeBytes: m.whole, ownFraction: m.own / m.whole })),
      memoryTargetMet: memoryOk,
      stepMs: { plain: t.plainMs, zero: t.zeroMs },
      ratio: t.ratio,
      ratioTarget: TIME_TARGET,
      ratioTargetMet: t.ratio <= TIME_TARGET,
      loadAverage: os.loadavg()[0],
    }),
  );
}

main().catch((e: unknown) => {
  console.error(`zero: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
