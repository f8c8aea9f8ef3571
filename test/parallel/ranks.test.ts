import { describe, expect, it } from "vitest";
import { coordOf, groupsOfRank, parseAxisOrder, rankLayout, rankOf, type AxisOrder } from "../../ml/parallel/ranks.ts";
import { InvalidLayoutError } from "../../ml/parallel/errors.ts";

describe("rankLayout (Megatron order)", () => {
  it("matches the worked example for dp=pp=tp=2", () => {
    const l = rankLayout({ dp: 2, pp: 2, tp: 2 });
    expect(l.worldSize).toBe(8);
    expect(l.coords[5]).toEqual({ dp: 0, pp: 1, tp: 1 });
    expect(l.tpGroups).toEqual([
      [0, 1],
      [2, 3],
      [4, 5],
      [6, 7],
    ]);
    expect(l.dpGroups).toEqual([
      [0, 2],
      [1, 3],
      [4, 6],
      [5, 7],
    ]);
    expect(l.ppGroups).toEqual([
      [0, 4],
      [1, 5],
      [2, 6],
      [3, 7],
    ]);
    expect(l.embeddingGroups).toEqual([
      [0, 4],
      [1, 5],
      [2, 6],
      [3, 7],
    ]);
  });

  it("puts only first and last stage in the embedding group", () => {
    const l = rankLayout({ dp: 1, pp: 4, tp: 2 });
    expect(l.ppGroups).toEqual([
      [0, 2, 4, 6],
      [1, 3, 5, 7],
    ]);
    expect(l.embeddingGroups).toEqual([
      [0, 6],
      [1, 7],
    ]);
    expect(groupsOfRank(l, 2).embedding).toBeUndefined();
    expect(groupsOfRank(l, 6).embedding).toEqual([0, 6]);
    expect(rankLayout({ dp: 2, pp: 1, tp: 1 }).embeddingGroups).toEqual([[0], [1]]);
  });

  it("follows rank = t + TP·d + TP·DP·p and round-trips for many shapes", () => {
    for (const [dp, pp, tp] of [
      [1, 1, 1],
      [3, 5, 2],
      [8, 35, 8],
      [2, 3, 4],
    ] as const) {
      const sizes = { dp, pp, tp };
      for (let p = 0; p < pp; p++)
        for (let d = 0; d < dp; d++)
          for (let t = 0; t < tp; t++) {
            const r = rankOf({ dp: d, pp: p, tp: t }, sizes);
            expect(r).toBe(t + tp * d + tp * dp * p);
            expect(coordOf(r, sizes)).toEqual({ dp: d, pp: p, tp: t });
          }
    }
  });

  it("partitions the world along each axis, each group agreeing on the other coordinates", () => {
    const orders: AxisOrder[] = [
      ["tp", "dp", "pp"],
      ["tp", "pp", "dp"],
      ["pp", "dp", "tp"],
    ];
    for (const order of orders) {
      const l = rankLayout({ dp: 3, pp: 2, tp: 4 }, order);
      for (const [axis, groups, size] of [
        ["tp", l.tpGroups, 4],
        ["dp", l.dpGroups, 3],
        ["pp", l.ppGroups, 2],
      ] as const) {
        expect(groups.length * size).toBe(24);
        expect(groups.flat().sort((a, b) => a - b)).toEqual([...Array(24).keys()]);
        for (const g of groups) {
          g.forEach((r, i) => expect(l.coords[r]![axis]).toBe(i));
          const others = (["dp", "pp", "tp"] as const).filter((a) => a !== axis);
          for (const a of others) expect(new Set(g.map((r) => l.coords[r]![a])).size).toBe(1);
        }
      }
    }
  });

  it("uses the order given: tp-pp-dp makes PP stride TP", () => {
    const l = rankLayout({ dp: 2, pp: 2, tp: 2 }, parseAxisOrder("tp-pp-dp"));
    expect(l.ppGroups).toEqual([
      [0, 2],
      [1, 3],
      [4, 6],
      [5, 7],
    ]);
    expect(l.dpGroups).toEqual([
      [0, 4],
      [1, 5],
      [2, 6],
      [3, 7],
    ]);
  });

  it("rejects bad sizes, orders, ranks and coordinates clearly", () => {
    expect(() => rankLayout({ dp: 0, pp: 1, tp: 1 })).toThrow(/dp size must be a positive integer/);
    expect(() => rankLayout({ dp: 1, pp: 1.5, tp: 1 })).toThrow(InvalidLayoutError);
    expect(() => parseAxisOrder("tp-tp-pp")).toThrow(/axis order must name tp, dp and pp once each/);
    expect(() => parseAxisOrder("tp-dp")).toThrow(/axis order/);
    expect(() => coordOf(8, { dp: 2, pp: 2, tp: 2 })).toThrow(/rank 8 is outside 0..7/);
    expect(() => rankOf({ dp: 0, pp: 2, tp: 0 }, { dp: 2, pp: 2, tp: 2 })).toThrow(/pp coordinate 2/);
  });
});
