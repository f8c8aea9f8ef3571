// Validation and batch ramp-up with pp or tp > 1, real rank processes over real sockets: the forward-only pass
// through each replica's pipeline gives the single-rank validation loss on the same held-out micro-batches (before
// and after training), and a run whose micro-batches per replica change from step to step gives the single-rank
// losses of the same ramp, all within 1e-5 relative.
import { describe, expect, inject, it } from "vitest";
import { rankLayout } from "../../ml/parallel/ranks.ts";
import { microbatchesAt, singleRankRun } from "./data.ts";
import { runRanks, type RunArgs } from "./spawn.ts";

const natsUrl = inject("natsUrl");
const VALIDATION_BATCHES = 3;

const relative = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

const cases: [number, number, number, RunArgs["schedule"], number, number[]][] = [
  // dp, pp, tp, schedule, model chunks per stage, micro-batches per replica by step
  [1, 1, 2, "1f1b", 1, [1, 2, 3, 1, 2, 4]],
  [1, 2, 1, "1f1b", 1, [1, 3, 2, 4, 1, 2]],
  [2, 2, 2, "1f1b", 1, [1, 2, 1, 3, 2, 4]],
  [1, 2, 1, "interleaved", 2, [2, 4, 2, 6, 2, 4]],
];

describe.each(cases)("dp %i × pp %i × tp %i (%s, %i chunk(s)) with a batch ramp", (dp, pp, tp, schedule, virtualStages, ramp) => {
  it("validation losses and ramped step losses equal the single-rank run's", { timeout: 120_000 }, async () => {
    const steps = ramp.length;
    const results = await runRanks({
      natsUrl,
      dp,
      pp,
      tp,
      schedule,
      virtualStages,
      microbatches: ramp[0]!,
      ramp,
      steps,
      validationBatches: VALIDATION_BATCHES,
    });
    const reference = await singleRankRun(steps, (s) => dp * microbatchesAt(ramp, s, 0), VALIDATION_BATCHES);
    expect(reference.validation[1]).toBeLessThan(reference.validation[0]! - 0.01); // it trains: "after" is a second, different check
    for (const r of results) {
      r.losses.forEach((loss, i) =>
        expect(relative(loss, reference.losses[i]!), `rank ${r.rank} step ${i + 1}: ${loss} vs ${reference.losses[i]}`).toBeLessThan(1e-5),
      );
    }
    // each replica's loss rank (last stage, TP rank 0) holds the sum; the others report 0
    const layout = rankLayout({ dp, pp, tp });
    for (let d = 0; d < dp; d++) {
      const replica = results.filter((r) => layout.coords[r.rank]!.dp === d);
      const counting = replica.filter((r) => layout.coords[r.rank]!.pp === pp - 1 && layout.coords[r.rank]!.tp === 0);
      expect(counting).toHaveLength(1);
      for (const r of replica) if (r !== counting[0]) expect(r.validationSums).toEqual([0, 0]);
      counting[0]!.validationSums.forEach((sum, i) => {
        const loss = sum / VALIDATION_BATCHES;
        expect(
          relative(loss, reference.validation[i]!),
          `replica ${d} validation ${i}: ${loss} vs ${reference.validation[i]}`,
        ).toBeLessThan(1e-5);
      });
    }
  });
});
