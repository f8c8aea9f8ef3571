import { describe, expect, it } from "vitest";
import { balancedLayerSplit, uniformLayerSplit, type LayerCosts } from "../../ml/parallel/layer-split.ts";

function compositions(total: number, parts: number): number[][] {
  if (parts === 1) return [[total]];
  const out: number[][] = [];
  for (let first = 1; first <= total - (parts - 1); first++)
    for (const rest of compositions(total - first, parts - 1)) out.push([first, ...rest]);
  return out;
}

function maxCost(split: number[], c: LayerCosts): number {
  return Math.max(...split.map((n, i) => n * c.layer + (i === 0 ? c.embedding : 0) + (i === split.length - 1 ? c.head : 0)));
}

describe("layer split", () => {
  it("gives the documented example", () => {
    const s = balancedLayerSplit(8, 4, { layer: 1, embedding: 0, head: 2 });
    expect(s.layersPerStage).toEqual([3, 2, 2, 1]);
    expect(s.firstLayer).toEqual([0, 3, 5, 7]);
    expect(s.stageCost).toEqual([3, 2, 2, 3]);
  });

  it("is as good as the best of every contiguous split (brute force)", () => {
    for (const costs of [
      { layer: 1, embedding: 0, head: 0 },
      { layer: 1, embedding: 0.4, head: 1.7 },
      { layer: 3, embedding: 5, head: 8 },
      { layer: 2, embedding: 0, head: 9 },
    ])
      for (let stages = 1; stages <= 5; stages++)
        for (let layers = stages; layers <= 12; layers++) {
          const best = Math.min(...compositions(layers, stages).map((s) => maxCost(s, costs)));
          const s = balancedLayerSplit(layers, stages, costs);
          expect(s.layersPerStage.reduce((a, b) => a + b, 0)).toBe(layers);
          expect(Math.min(...s.layersPerStage)).toBeGreaterThanOrEqual(1);
          expect(maxCost(s.layersPerStage, costs)).toBeCloseTo(best, 9);
        }
  });

  it("beats the uniform split when the head is heavy", () => {
    const costs = { layer: 1, embedding: 0.1, head: 3 };
    const u = uniformLayerSplit(12, 4, costs);
    const b = balancedLayerSplit(12, 4, costs);
    expect(u.layersPerStage).toEqual([3, 3, 3, 3]);
    expect(b.imbalance).toBeLessThan(u.imbalance);
    expect(b.layersPerStage[3]).toBeLessThan(3);
  });

  it("explains impossible requests", () => {
    expect(() => balancedLayerSplit(3, 4, { layer: 1, embedding: 0, head: 0 })).toThrow(/3 layers cannot fill 4 pipeline stages/);
    expect(() => balancedLayerSplit(4, 2, { layer: 0, embedding: 0, head: 0 })).toThrow(/layer cost must be positive/);
  });
});
