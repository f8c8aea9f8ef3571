import { describe, expect, it } from "vitest";
import { gptParameterLayout } from "../../ml/model/param-layout.ts";
import { uniformLayerSplit } from "../../ml/parallel/layer-split.ts";
import { rankShards, shardOf, stageOfLayer, type ShardLayout } from "../../ml/parallel/shard-spec.ts";
import { ShardSpecError } from "../../ml/parallel/errors.ts";

const config = { vocabSize: 12, seqLen: 5, layers: 4, dModel: 8, heads: 4 };
const params = gptParameterLayout(config);
const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

function layoutOf(tp: number, pp: number): ShardLayout {
  return {
    tp,
    pp,
    heads: config.heads,
    layersPerStage: uniformLayerSplit(config.layers, pp, { layer: 1, embedding: 0, head: 0 }).layersPerStage,
  };
}

/** Flat indices of the global elements a block covers. */
function indices(globalShape: readonly number[], block: { globalOffset: number[]; shape: number[] }): number[] {
  const out: number[] = [];
  const walk = (dim: number, base: number) => {
    if (dim === globalShape.length) return void out.push(base);
    for (let i = 0; i < block.shape[dim]!; i++) walk(dim + 1, base * globalShape[dim]! + block.globalOffset[dim]! + i);
  };
  walk(0, 0);
  return out;
}

describe("shard spec", () => {
  it("gives the documented examples", () => {
    const layout: ShardLayout = { tp: 2, pp: 2, layersPerStage: [2, 2], heads: 2 };
    const qkv = shardOf("h.1.attn.qkv.weight", [24, 8], layout, { stage: 0, tpRank: 1 });
    expect(qkv.kind).toBe("qkv");
    expect(qkv.blocks).toEqual([
      { globalOffset: [4, 0], shape: [4, 8] },
      { globalOffset: [12, 0], shape: [4, 8] },
      { globalOffset: [20, 0], shape: [4, 8] },
    ]);
    expect(qkv.localShape).toEqual([12, 8]);
    expect(shardOf("h.1.attn.qkv.weight", [24, 8], layout, { stage: 1, tpRank: 0 }).holds).toBe(false);
    const proj = shardOf("h.2.mlp.proj.weight", [8, 32], layout, { stage: 1, tpRank: 1 });
    expect(proj).toMatchObject({ kind: "row", blocks: [{ globalOffset: [0, 16], shape: [8, 16] }], localShape: [8, 16], primary: true });
    const wte = shardOf("wte", [12, 8], layout, { stage: 1, tpRank: 1 });
    expect(wte).toMatchObject({ kind: "vocab", holds: true, primary: false, blocks: [{ globalOffset: [6, 0], shape: [6, 8] }] });
    const ln = shardOf("h.3.ln2.bias", [8], layout, { stage: 1, tpRank: 1 });
    expect(ln).toMatchObject({ kind: "replicated", replicated: true, primary: false, blocks: [{ globalOffset: [0], shape: [8] }] });
    expect(shardOf("h.3.attn.proj.bias", [8], layout, { stage: 1, tpRank: 0 })).toMatchObject({ replicated: true, primary: true });
  });

  it("splits qkv per head group: each shard holds whole heads of q, k and v", () => {
    // d = 8, 4 heads of 2, tp = 2: rank 1 holds heads 2,3 → rows 4..7 of q, 12..15 of k, 20..23 of v
    const s = shardOf("h.0.attn.qkv.bias", [24], layoutOf(2, 1), { stage: 0, tpRank: 1 });
    expect(s.blocks.map((b) => indices([24], b))).toEqual([
      [4, 5, 6, 7],
      [12, 13, 14, 15],
      [20, 21, 22, 23],
    ]);
  });

  for (const tp of [1, 2, 4])
    for (const pp of [1, 2, 4])
      it(`covers every global element exactly once with its primary copies (tp ${tp}, pp ${pp})`, () => {
        const layout = layoutOf(tp, pp);
        for (const p of params) {
          const hits = new Int32Array(count(p.shape));
          const copies: string[] = [];
          let holders = 0;
          for (let stage = 0; stage < pp; stage++)
            for (let tpRank = 0; tpRank < tp; tpRank++) {
              const s = shardOf(p.name, p.shape, layout, { stage, tpRank });
              if (!s.holds) continue;
              holders++;
              expect(s.localShape.length).toBe(p.shape.length);
              expect(count(s.localShape)).toBe(s.blocks.reduce((a, b) => a + count(b.shape), 0));
              if (s.replicated) copies.push(JSON.stringify(s.blocks));
              if (!s.primary) continue;
              for (const b of s.blocks) for (const i of indices(p.shape, b)) hits[i]!++;
            }
          expect(
            [...hits].every((h) => h === 1),
            p.name,
          ).toBe(true);
          // replicated tensors: every holder has the identical whole tensor
          expect(new Set(copies).size).toBeLessThanOrEqual(1);
          if (copies.length > 0) expect(copies.length).toBe(holders);
          if (p.name === "wte") expect(holders).toBe(pp > 1 ? 2 * tp : tp);
        }
      });

  it("the tied wte copy on the last stage equals the first stage's piece", () => {
    const layout = layoutOf(2, 2);
    for (const tpRank of [0, 1]) {
      const first = shardOf("wte", [12, 8], layout, { stage: 0, tpRank });
      const last = shardOf("wte", [12, 8], layout, { stage: 1, tpRank });
      expect(last.blocks).toEqual(first.blocks);
      expect([first.primary, last.primary]).toEqual([true, false]);
    }
  });

  it("assigns every layer to exactly one stage, in contiguous runs", () => {
    for (const pp of [1, 2, 3, 4]) {
      const layersPerStage = uniformLayerSplit(7, pp, { layer: 1, embedding: 0, head: 0 }).layersPerStage;
      const stages = Array.from({ length: 7 }, (_, l) => stageOfLayer(l, layersPerStage));
      expect(stages).toEqual([...stages].sort((a, b) => a - b));
      for (let s = 0; s < pp; s++) expect(stages.filter((x) => x === s).length).toBe(layersPerStage[s]);
      const layout = { tp: 1, pp, heads: 1, layersPerStage };
      for (let l = 0; l < 7; l++) {
        const holders = Array.from({ length: pp }, (_, stage) => shardOf(`h.${l}.ln1.weight`, [8], layout, { stage, tpRank: 0 }).holds);
        expect(holders.filter(Boolean).length).toBe(1);
      }
    }
    expect(() => stageOfLayer(7, [3, 4])).toThrow(/layer 7 is beyond the 7 layers/);
  });

  it("lists a rank's tensors with rankShards: first stage embeds, last stage has lnf and the tied wte", () => {
    const layout = layoutOf(2, 2);
    const first = rankShards(params, layout, { stage: 0, tpRank: 0 }).map((s) => s.name);
    const last = rankShards(params, layout, { stage: 1, tpRank: 1 }).map((s) => s.name);
    expect(first.slice(0, 2)).toEqual(["wte", "wpe"]);
    expect(first).not.toContain("lnf.weight");
    expect(first.filter((n) => n.startsWith("h.")).every((n) => n.startsWith("h.0.") || n.startsWith("h.1."))).toBe(true);
    expect(last).toContain("wte");
    expect(last).toContain("lnf.bias");
    expect(last).not.toContain("wpe");
  });

  it("refuses layouts that do not divide the model, with clear errors", () => {
    expect(() => shardOf("h.0.attn.qkv.weight", [24, 8], { tp: 3, pp: 1, layersPerStage: [1], heads: 3 }, { stage: 0, tpRank: 0 })).toThrow(
      /dModel 8 is not a multiple of 3 heads/,
    );
    expect(() => shardOf("h.0.attn.qkv.weight", [24, 8], { tp: 4, pp: 1, layersPerStage: [1], heads: 2 }, { stage: 0, tpRank: 0 })).toThrow(
      /2 attention heads cannot be split evenly over tp = 4/,
    );
    const tp3: ShardLayout = { tp: 3, pp: 1, layersPerStage: [1], heads: 3 };
    expect(() => shardOf("wte", [10, 9], tp3, { stage: 0, tpRank: 0 })).toThrow(/wte: vocabulary 10 cannot be split evenly over tp = 3/);
    expect(() => shardOf("h.0.mlp.fc.weight", [4, 9], tp3, { stage: 0, tpRank: 0 })).toThrow(ShardSpecError);
    expect(() => shardOf("h.0.mlp.gate.weight", [4, 9], tp3, { stage: 0, tpRank: 0 })).toThrow(
      /unknown parameter name h.0.mlp.gate.weight/,
    );
    expect(() => shardOf("wte", [12, 8], layoutOf(2, 2), { stage: 2, tpRank: 0 })).toThrow(/stage 2 is outside pp = 2/);
    expect(() => shardOf("wte", [12, 8], { tp: 2, pp: 2, layersPerStage: [4], heads: 4 }, { stage: 0, tpRank: 0 })).toThrow(
      /layersPerStage has 1 entries, expected pp = 2/,
    );
  });
});
