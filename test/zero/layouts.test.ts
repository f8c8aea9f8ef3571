// ZeRO-1 on every layout with dp, pp, tp ∈ {1, 2}, with real rank processes over real sockets (the parallel-model
// harness, test/parallel-model/spawn.ts): over 20 steps the losses and every rank's final parameters equal the
// unsharded run's of the same layout within 1e-5. Each element's update is the same arithmetic on the same reduced
// gradient (the reduce-scatter combines in group-rank order, as the all-reduce does); only the gradient norm is
// summed per shard, which moves the clip factor in its last bits. The worker processes' ZeRO path (data-parallel
// replica and stage compute) is exercised by recovery.test.ts and checkpoints.test.ts.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { runRanks, type RunArgs } from "../parallel-model/spawn.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-zero-layouts-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const STEPS = 20;
const natsUrl = inject("natsUrl");

const layouts: [number, number, number][] = [
  [1, 1, 1],
  [2, 1, 1],
  [1, 2, 1],
  [1, 1, 2],
  [2, 2, 1],
  [2, 1, 2],
  [1, 2, 2],
  [2, 2, 2],
];

function params(dir: string, rank: number): Float32Array {
  const b = readFileSync(path.join(dir, `rank${rank}.f32`));
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}

describe.each(layouts)("dp %i × pp %i × tp %i", (dp, pp, tp) => {
  it("ZeRO-1 gives the unsharded losses and final parameters within 1e-5", { timeout: 420_000 }, async () => {
    const run = async (zero: boolean) => {
      const dumpDir = path.join(root, `${dp}${pp}${tp}-${zero}`);
      mkdirSync(dumpDir);
      const args: RunArgs = { natsUrl, dp, pp, tp, schedule: "1f1b", microbatches: 2, steps: STEPS, zero, dumpDir };
      return { results: await runRanks(args, 200_000), dumpDir };
    };
    const plain = await run(false);
    const zero = await run(true);
    const ref = plain.results[0]!;
    expect(ref.losses.at(-1)!).toBeLessThan(ref.losses[0]!); // it trains
    expect(Math.max(...ref.norms)).toBeGreaterThan(0.5); // the clip takes part (data.ts: CLIP)
    for (const [r, z] of zero.results.entries()) {
      z.losses.forEach((l, i) =>
        expect(Math.abs(l - ref.losses[i]!) / ref.losses[i]!, `rank ${r} loss at step ${i + 1}`).toBeLessThan(1e-5),
      );
      const p = params(zero.dumpDir, r);
      const q = params(plain.dumpDir, r);
      expect(p.length).toBe(q.length);
      let worst = 0;
      for (let i = 0; i < p.length; i++) worst = Math.max(worst, Math.abs(p[i]! - q[i]!) / Math.max(Math.abs(q[i]!), 1e-3));
      expect(worst, `rank ${r} parameters`).toBeLessThan(1e-5);
    }
  });
});
