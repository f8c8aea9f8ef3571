import { describe, expect, it } from "vitest";
import { stepTraffic } from "../../ml/parallel/cost-model.ts";
import { groupOnOneHost, naivePlacement, ranksByHost, topologyAwarePlacement } from "../../ml/parallel/placement.ts";
import { rankLayout } from "../../ml/parallel/ranks.ts";

describe("topology-aware placement", () => {
  it("keeps every TP group of the MT-NLG layout (tp 8, pp 35, dp 8 on 280 × 8) inside one node", () => {
    const layout = rankLayout({ dp: 8, pp: 35, tp: 8 });
    const placement = topologyAwarePlacement(layout, { hosts: 280, slotsPerHost: 8 });
    expect(layout.tpGroups).toHaveLength(280);
    for (const g of layout.tpGroups) expect(groupOnOneHost(placement, g)).toBe(true);
    // every slot used exactly once
    expect(new Set(placement.slots.map((s) => `${s.host}/${s.slot}`)).size).toBe(2240);
    // DP replicas of a stage on 8 consecutive hosts; consecutive stages on different hosts
    for (const g of layout.dpGroups) {
      const hosts = g.map((r) => placement.slots[r]!.host);
      expect(Math.max(...hosts) - Math.min(...hosts)).toBe(7);
    }
    for (const g of layout.ppGroups)
      for (let s = 0; s + 1 < g.length; s++) expect(placement.slots[g[s]!]!.host).not.toBe(placement.slots[g[s + 1]!]!.host);
    // the naive spread splits every TP group across hosts
    const naive = naivePlacement(layout, { hosts: 280, slotsPerHost: 8 });
    expect(layout.tpGroups.filter((g) => groupOnOneHost(naive, g))).toHaveLength(0);
  });

  it("does not depend on the rank numbering's axis order", () => {
    const layout = rankLayout({ dp: 2, pp: 3, tp: 4 }, ["pp", "dp", "tp"]);
    const placement = topologyAwarePlacement(layout, { hosts: 6, slotsPerHost: 4 });
    for (const g of layout.tpGroups) expect(groupOnOneHost(placement, g)).toBe(true);
  });

  it("leaves slots empty rather than splitting a TP group when tp does not divide the slots", () => {
    const layout = rankLayout({ dp: 3, pp: 1, tp: 2 });
    const placement = topologyAwarePlacement(layout, { hosts: 3, slotsPerHost: 3 });
    for (const g of layout.tpGroups) expect(groupOnOneHost(placement, g)).toBe(true);
    expect(ranksByHost(placement)).toEqual([
      [0, 1],
      [2, 3],
      [4, 5],
    ]);
    expect(() => topologyAwarePlacement(rankLayout({ dp: 4, pp: 1, tp: 2 }), { hosts: 3, slotsPerHost: 3 })).toThrow(
      /cannot keep each TP group of 2 inside one host/,
    );
  });

  it("refuses a job larger than the cluster", () => {
    expect(() => naivePlacement(rankLayout({ dp: 4, pp: 2, tp: 2 }), { hosts: 2, slotsPerHost: 4 })).toThrow(
      /16 ranks do not fit on 2 hosts × 4 slots = 8 slots/,
    );
    expect(() => naivePlacement(rankLayout({ dp: 1, pp: 1, tp: 1 }), { hosts: 0, slotsPerHost: 4 })).toThrow(/hosts must be/);
  });
});

describe("step traffic cost model", () => {
  // 2 layers, h 4, s 3, V 10, b 1, m 2, fp32, dp = pp = tp = 2, one layer per stage. Hand-computed:
  //   activation b·s·h·4 = 48 B. TP: 5 all-reduces per group per micro-batch (4 per layer + embedding or head),
  //   a 2-rank ring moves 2N per all-reduce: 5·2·48·2 = 960 per group, 4 groups = 3840.
  //   vocab loss: 3 all-reduces of b·s·4 = 12 B per micro-batch on the 2 last-stage groups: 2·(2·3·2·12) = 288.
  //   PP: 4 groups × 1 boundary × (forward + backward) × m × 48 = 768.
  //   DP: stage-0 shard = (12·16 + 7·4)/2 + 6·4 + 5·4 (wte rows) + 3·4 (wpe) = 166 params = 664 B → 1328 per group;
  //       stage-1 shard = 134 + 2·4 (final LN) + 20 (head copy) = 162 → 648 B → 1296; 2 groups each = 5248.
  //   tied embedding: 4 groups × 2 × (5·4·4 = 80 B) = 640.
  const layout = rankLayout({ dp: 2, pp: 2, tp: 2 });
  const shape = {
    model: { layers: 2, dModel: 4, seqLen: 3, vocabSize: 10 },
    microBatch: 1,
    microbatches: 2,
    layersPerStage: [1, 1],
    activationBytes: 4,
    gradBytes: 4,
  };
  const cluster = { hosts: 2, slotsPerHost: 4 };

  it("matches the hand count, classified by host for the topology-aware placement", () => {
    const t = stepTraffic(layout, topologyAwarePlacement(layout, cluster), shape);
    expect(t.byKind.tp).toEqual({ sameHost: 3840, otherHost: 0 });
    expect(t.byKind.vocabLoss).toEqual({ sameHost: 288, otherHost: 0 });
    expect(t.byKind.pp).toEqual({ sameHost: 0, otherHost: 768 });
    expect(t.byKind.dp).toEqual({ sameHost: 5248, otherHost: 0 });
    expect(t.byKind.tiedEmbedding).toEqual({ sameHost: 0, otherHost: 640 });
    expect(t.total).toEqual({ sameHost: 3840 + 288 + 5248, otherHost: 768 + 640 });
  });

  it("moves the same bytes under the naive placement, but more of them between hosts", () => {
    const naive = stepTraffic(layout, naivePlacement(layout, cluster), shape);
    expect(naive.byKind.tp).toEqual({ sameHost: 0, otherHost: 3840 });
    expect(naive.byKind.pp).toEqual({ sameHost: 768, otherHost: 0 });
    expect(naive.total.sameHost + naive.total.otherHost).toBe(3840 + 288 + 5248 + 768 + 640);
    expect(naive.total.otherHost).toBeGreaterThan(768 + 640);
  });

  it("rejects a layer split that does not fit the layout", () => {
    const p = topologyAwarePlacement(layout, cluster);
    expect(() => stepTraffic(layout, p, { ...shape, layersPerStage: [2] })).toThrow(/1 entries for pp = 2/);
    expect(() => stepTraffic(layout, p, { ...shape, layersPerStage: [1, 2] })).toThrow(/sums to 3, the model has 2/);
  });
});
