// parallel.zero in the config: 0 by default, 1 accepted, anything else refused with a message naming the key.
import { describe, expect, it } from "vitest";
import { parseTrainConfig } from "../../ml/train/config.ts";

const base = {
  model: { layers: 1, dModel: 16, heads: 2, seqLen: 8 },
  data: { corpus: "brown", vocabSize: 260 },
  optimizer: { lr: 0.01 },
  batch: { size: 4, microBatch: 2 },
  schedule: { warmupTokens: 32, decayTokens: 1000 },
  train: { steps: 2 },
  eval: { interval: 10, batches: 1 },
  checkpoint: { interval: 10 },
};

describe("parallel.zero", () => {
  it("defaults to 0 and accepts 1", () => {
    expect(parseTrainConfig(base).parallel.zero).toBe(0);
    expect(parseTrainConfig({ ...base, parallel: { dp: 2, zero: 1 } }).parallel.zero).toBe(1);
  });

  it.each([2, -1, 0.5, "1"])("refuses %j with a clear error", (zero) => {
    expect(() => parseTrainConfig({ ...base, parallel: { dp: 2, zero } })).toThrow(/parallel\.zero.*0 or 1/s);
  });

  it("takes zero 1 at any dp (dp > 2: sharded checkpoints and two-neighbour peer restore)", () => {
    expect(parseTrainConfig({ ...base, parallel: { dp: 4, zero: 1 } }).parallel).toMatchObject({ dp: 4, zero: 1 });
    expect(parseTrainConfig({ ...base, parallel: { dp: 4, zero: 0 } }).parallel.dp).toBe(4);
  });

  it("goes with an elastic section at any dp", () => {
    const elastic = { minDp: 1 };
    expect(parseTrainConfig({ ...base, parallel: { dp: 2, zero: 1 }, elastic }).elastic).toEqual({
      minDp: 1,
      replaceTimeout: 20,
      growOnJoin: false,
    });
    expect(parseTrainConfig({ ...base, batch: { size: 6, microBatch: 2 }, parallel: { dp: 3, zero: 1 }, elastic }).elastic?.minDp).toBe(1);
  });
});
