// Cutting shards out of global tensors as shard-spec.ts describes, element by element (dModel 8, heads 2,
// vocab 12, tp 2, rank 1 — the worked example of shard-spec.ts).
import { describe, expect, it } from "vitest";
import { ParallelModelError, sliceShard, vocabRange } from "../../ml/parallel-model/mod.ts";
import { shardOf, type ShardLayout } from "../../ml/parallel/shard-spec.ts";

const layout: ShardLayout = { tp: 2, pp: 1, layersPerStage: [4], heads: 2 };
const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

function shard(name: string, shape: number[], tpRank = 1): number[] {
  const spec = shardOf(name, shape, layout, { stage: 0, tpRank });
  const out = new Float32Array(spec.localShape.reduce((a, b) => a * b, 1));
  sliceShard(
    spec,
    Float32Array.from(
      range(
        0,
        shape.reduce((a, b) => a * b, 1),
      ),
    ),
    out,
  );
  return [...out];
}

describe("sliceShard", () => {
  it("takes this rank's heads from each of q, k and v", () => {
    const rows = [...range(4, 8), ...range(12, 16), ...range(20, 24)];
    expect(shard("h.0.attn.qkv.weight", [24, 8])).toEqual(rows.flatMap((r) => range(r * 8, r * 8 + 8)));
    expect(shard("h.3.attn.qkv.bias", [24])).toEqual(rows);
  });

  it("cuts fc by rows (column-parallel) and the projections by columns (row-parallel)", () => {
    expect(shard("h.0.mlp.fc.weight", [32, 8])).toEqual(range(16 * 8, 32 * 8));
    expect(shard("h.0.mlp.fc.bias", [32])).toEqual(range(16, 32));
    expect(shard("h.0.attn.proj.weight", [8, 8])).toEqual(range(0, 8).flatMap((r) => range(r * 8 + 4, r * 8 + 8)));
    expect(shard("h.1.mlp.proj.weight", [8, 32], 0)).toEqual(range(0, 8).flatMap((r) => range(r * 32, r * 32 + 16)));
  });

  it("cuts wte by vocabulary rows and copies replicated tensors whole", () => {
    expect(shard("wte", [12, 8])).toEqual(range(48, 96));
    expect(vocabRange(12, 1, 2)).toEqual({ start: 6, size: 6 });
    expect(shard("wpe", [5, 8])).toEqual(range(0, 40));
    expect(shard("h.0.mlp.proj.bias", [8])).toEqual(range(0, 8));
  });

  it("refuses a global tensor or a local buffer of the wrong size, and a vocabulary that does not split", () => {
    const spec = shardOf("h.0.mlp.fc.weight", [32, 8], layout, { stage: 0, tpRank: 0 });
    expect(() => sliceShard(spec, new Float32Array(10), new Float32Array(128))).toThrow(ParallelModelError);
    expect(() => sliceShard(spec, new Float32Array(10), new Float32Array(128))).toThrow(
      /h.0.mlp.fc.weight: global tensor has 10 elements, expected 256/,
    );
    expect(() => sliceShard(spec, new Float32Array(256), new Float32Array(200))).toThrow(/shard has 128 elements but the local tensor 200/);
    expect(() => vocabRange(13, 0, 2)).toThrow(/vocabSize 13 is not divisible by tp 2/);
  });
});
