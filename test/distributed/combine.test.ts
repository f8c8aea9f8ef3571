import { describe, expect, it } from "vitest";
import { combineReady, skippedStep, splitMicroBatches } from "../../actors/coordinator/combine.ts";
import { checkDistributable } from "../../actors/coordinator/run-distributed.ts";
import { parseTrainConfig } from "../../ml/train/config.ts";
import { NonFiniteLossError } from "../../ml/train/errors.ts";
import { clipScaleFor } from "../../ml/train/step.ts";

describe("combineReady", () => {
  it("averages the loss over the step's micro-batches and counts each shard's norm once (replica 0)", () => {
    const c = combineReady(
      3,
      [
        { coords: { dp: 0 }, lossSum: 6.2, gradNormSquared: 4 },
        { coords: { dp: 1 }, lossSum: 6.0, gradNormSquared: 4 },
      ],
      4,
      1,
    );
    expect(c.loss).toBeCloseTo(3.05, 12);
    expect(c.gradNorm).toBe(2);
    expect(c.clipScale).toBe(clipScaleFor(2, 1));
    expect(c.clipScale).toBeLessThan(1);
  });

  it("sums the norm over the shards of replica 0 (tensor/pipeline shards)", () => {
    const c = combineReady(
      1,
      [
        { coords: { dp: 0 }, lossSum: 1, gradNormSquared: 9 },
        { coords: { dp: 0 }, lossSum: 0, gradNormSquared: 16 },
        { coords: { dp: 1 }, lossSum: 1, gradNormSquared: 9 },
        { coords: { dp: 1 }, lossSum: 0, gradNormSquared: 16 },
      ],
      2,
      10,
    );
    expect(c.gradNorm).toBe(5);
    expect(c.clipScale).toBe(1);
  });

  it("refuses NaN and infinite losses or norms, naming the step", () => {
    expect(() => combineReady(7, [{ coords: { dp: 0 }, lossSum: Number.NaN, gradNormSquared: 1 }], 1, 1)).toThrow(NonFiniteLossError);
    expect(() => combineReady(7, [{ coords: { dp: 0 }, lossSum: 1, gradNormSquared: Infinity }], 1, 1)).toThrow(
      /step 7: the gradient norm is Infinity/,
    );
  });
});

describe("skippedStep", () => {
  it("a skipped step has no loss or norm and does not scale the (dropped) gradients", () => {
    const s = skippedStep();
    expect(s.skipped).toBe(true);
    expect(s.loss).toBeNaN();
    expect(s.gradNorm).toBeNaN();
    expect(s.clipScale).toBe(1);
    expect(combineReady(1, [{ coords: { dp: 0 }, lossSum: 2, gradNormSquared: 1 }], 1, 1).skipped).toBeUndefined();
  });
});

describe("splitMicroBatches", () => {
  it("gives each replica a contiguous block of the step's samples", () => {
    const s = splitMicroBatches(16, 2, 2, 100);
    expect(s.totalMicroBatches).toBe(8);
    expect([s.blockOf(0), s.blockOf(1)]).toEqual([
      { firstSample: 100, microBatches: 4 },
      { firstSample: 108, microBatches: 4 },
    ]);
  });

  it("covers the same micro-batches in the same order for any replica count (an elastic job that shrank)", () => {
    for (const replicas of [1, 2, 3, 4, 5, 6]) {
      const s = splitMicroBatches(12, 2, replicas, 40);
      const samples = Array.from({ length: replicas }, (_, j) => s.blockOf(j)).flatMap((b) =>
        Array.from({ length: b.microBatches }, (_, m) => b.firstSample + m * 2),
      );
      expect(samples, `${replicas} replicas`).toEqual([40, 42, 44, 46, 48, 50]);
    }
    expect([0, 1].map(splitMicroBatches(6, 2, 2, 0).blockOf)).toEqual([
      { firstSample: 0, microBatches: 1 },
      { firstSample: 2, microBatches: 2 },
    ]);
  });

  it("refuses more replicas than the step has micro-batches", () => {
    expect(() => splitMicroBatches(6, 2, 4, 0)).toThrow(/3 micro-batches of 2, fewer than the 4 replicas/);
  });
});

describe("checkDistributable", () => {
  const base = {
    model: { layers: 1, dModel: 8, heads: 1, seqLen: 8 },
    data: { corpus: "brown", vocabSize: 260 },
    optimizer: { lr: 0.01 },
    schedule: { warmupTokens: 8, decayTokens: 1000 },
    train: { steps: 2 },
    eval: { interval: 10 },
    checkpoint: { interval: 10 },
  };
  it("accepts data parallel configs whose steps split evenly", () => {
    expect(() => checkDistributable(parseTrainConfig({ ...base, batch: { size: 8, microBatch: 2 }, parallel: { dp: 2 } }))).not.toThrow();
  });
  it("accepts a ramp-up with tp/pp > 1, refuses batches (or ramp steps) that do not split over dp", () => {
    expect(() =>
      checkDistributable(parseTrainConfig({ ...base, batch: { size: 8, microBatch: 2 }, parallel: { dp: 2, tp: 2 } })),
    ).not.toThrow();
    expect(() =>
      checkDistributable(
        parseTrainConfig({
          ...base,
          batch: { size: 8, microBatch: 2, rampStart: 4, rampIncrement: 4, rampTokens: 64 },
          parallel: { pp: 2 },
        }),
      ),
    ).not.toThrow();
    expect(() =>
      checkDistributable(
        parseTrainConfig({
          ...base,
          batch: { size: 8, microBatch: 2, rampStart: 2, rampIncrement: 2, rampTokens: 64 },
          parallel: { dp: 2 },
        }),
      ),
    ).toThrow(/parallel.dp 2 must divide/);
  });
  it("the parallel section defaults to one rank and is strict", () => {
    expect(parseTrainConfig({ ...base, batch: { size: 8, microBatch: 2 } }).parallel).toEqual({ dp: 1, pp: 1, tp: 1, zero: 0 });
    expect(() => parseTrainConfig({ ...base, batch: { size: 8, microBatch: 2 }, parallel: { dp: 2, ep: 2 } })).toThrow(
      /unknown field `parallel.ep`/,
    );
  });
});
