// The checkpoint's local tensors must be laid out as the tensor-parallel model holds them (ml/parallel-model):
// the same elements in the same order, or a resumed TP rank would get scrambled weights.
import { describe, expect, it } from "vitest";
import { extractShard } from "../../ml/checkpoint/tensor-blocks.ts";
import { gptParameterLayout } from "../../ml/model/param-layout.ts";
import { sliceShard } from "../../ml/parallel-model/tensor-shards.ts";
import { shardOf } from "../../ml/parallel/shard-spec.ts";

describe("shard spec and the tensor-parallel model agree", () => {
  const config = { vocabSize: 16, seqLen: 4, layers: 1, dModel: 8, heads: 4 };
  for (const tp of [1, 2, 4])
    it(`cuts every tensor the same way (tp ${tp})`, () => {
      for (const p of gptParameterLayout(config)) {
        const global = Float32Array.from({ length: p.shape.reduce((a, b) => a * b, 1) }, (_, i) => i);
        for (let tpRank = 0; tpRank < tp; tpRank++) {
          const shard = shardOf(p.name, p.shape, { tp, pp: 1, layersPerStage: [1], heads: config.heads }, { stage: 0, tpRank });
          expect(
            shard.localShape.reduce((a, b) => a * b, 1),
            p.name,
          ).toBe(global.length / (shard.replicated ? 1 : tp));
          const theirs = new Float32Array(global.length / (shard.replicated ? 1 : tp));
          sliceShard(shard, global, theirs);
          expect([...extractShard(global, shard)], `${p.name} rank ${tpRank}`).toEqual([...theirs]);
        }
      }
    });
});
