// The model-FLOP count the dashboard's FLOP/s uses, against hand computations.
import { describe, expect, it } from "vitest";
import { modelFlopsPerToken, modelParams } from "../../ml/parallel/model-shape.ts";

describe("model FLOPs", () => {
  it("counts GPT-2 small's 124 439 808 parameters", () => {
    expect(modelParams({ layers: 12, dModel: 768, seqLen: 1024, vocabSize: 50257 })).toBe(124_439_808);
  });

  it("is 6N plus 12·L·s·h per token", () => {
    // L 2, h 4, s 8, V 10: N = 2(12·16 + 13·4) + 10·4 + 8·4 + 2·4 = 488 + 40 + 32 + 8 = 568
    const m = { layers: 2, dModel: 4, seqLen: 8, vocabSize: 10 };
    expect(modelParams(m)).toBe(568);
    // 6·568 + 12·2·8·4 = 3408 + 768
    expect(modelFlopsPerToken(m)).toBe(4176);
  });
});
