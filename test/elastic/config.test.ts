// The config's `elastic` section (ml/train/config.ts): what it accepts and the errors that say what is wrong.
import { describe, expect, it } from "vitest";
import { parseTrainConfig } from "../../ml/train/config.ts";

const base = {
  model: { layers: 1, dModel: 8, heads: 1, seqLen: 8 },
  data: { corpus: "brown", vocabSize: 260 },
  optimizer: { lr: 0.01 },
  batch: { size: 12, microBatch: 2 },
  schedule: { warmupTokens: 8, decayTokens: 1000 },
  train: { steps: 2 },
  eval: { interval: 10 },
  checkpoint: { interval: 10 },
};

describe("the elastic section", () => {
  it("is optional; replaceTimeout defaults to 20 s", () => {
    expect(parseTrainConfig({ ...base, parallel: { dp: 3 } }).elastic).toBeUndefined();
    expect(parseTrainConfig({ ...base, parallel: { dp: 3 }, elastic: { minDp: 1 } }).elastic).toEqual({
      minDp: 1,
      replaceTimeout: 20,
      growOnJoin: false,
    });
  });

  it("accepts ZeRO-1 at any dp (at dp ≤ 2 a rank re-shards alone, above it every replica takes part)", () => {
    for (const dp of [1, 2, 3, 4]) {
      const c = parseTrainConfig({ ...base, parallel: { dp, zero: 1 }, elastic: { minDp: 1 } });
      expect([c.parallel.zero, c.elastic?.minDp]).toEqual([1, 1]);
    }
  });

  it("refuses model parallelism, minDp above dp, a non-positive timeout and unknown keys, each by name", () => {
    const bad = (parallel: object, elastic: object) => () => parseTrainConfig({ ...base, parallel, elastic });
    expect(bad({ dp: 2, pp: 2 }, { minDp: 1 })).toThrow(
      /`elastic.minDp`: .*elastic data parallelism needs pp = tp = 1 \(parallel has pp 2, tp 1\)/,
    );
    expect(bad({ dp: 2 }, { minDp: 3 })).toThrow(/`elastic.minDp`: .*must be at most parallel.dp \(2\)/);
    expect(bad({ dp: 2 }, { minDp: 0 })).toThrow(/`elastic.minDp`: got 0/);
    expect(bad({ dp: 2 }, { minDp: 1, replaceTimeout: 0 })).toThrow(/`elastic.replaceTimeout`: got 0/);
    expect(bad({ dp: 2 }, { minDp: 1, replaceTimeout: 601 })).toThrow(/`elastic.replaceTimeout`: got 601/);
    expect(bad({ dp: 2 }, { minDp: 1, spare: true })).toThrow(/unknown field `elastic.spare`/);
  });
});
