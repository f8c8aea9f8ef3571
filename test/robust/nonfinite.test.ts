import { describe, expect, it } from "vitest";
import { findNonFinite, RepeatOffenders } from "../../actors/coordinator/nonfinite.ts";
import { NonFiniteOptionsError } from "../../actors/coordinator/errors.ts";
import { allFinite } from "../../ml/model/finite.ts";

const w = (rank: number, d: number, p: number, extra: { lossSum?: number; gradNormSquared?: number; nonFinite?: boolean } = {}) => ({
  id: `w${rank}`,
  coords: { d, p, t: 0, rank },
  lossSum: 1,
  gradNormSquared: 1,
  ...extra,
});

describe("findNonFinite", () => {
  it("is undefined when every report is finite", () => {
    expect(findNonFinite(1, [w(0, 0, 0), w(1, 1, 0, { nonFinite: false })])).toBeUndefined();
  });

  it("names the lowest stage, then the lowest rank, among workers that saw it locally (worked example)", () => {
    const v = findNonFinite(4, [
      w(0, 0, 0),
      w(1, 1, 0, { nonFinite: true }),
      w(2, 0, 1, { nonFinite: true, lossSum: Number.NaN }),
      w(3, 1, 1),
    ]);
    expect(v).toEqual({ step: 4, offender: "w1", suspects: ["w1", "w2"], evidence: "local gradients or loss" });
  });

  it("local evidence wins over NaN that only reached a worker through a reduction", () => {
    // after the DP all-reduce both replicas report an infinite norm; only w1 saw it in its own gradients
    const v = findNonFinite(2, [w(0, 0, 0, { gradNormSquared: Infinity }), w(1, 1, 0, { gradNormSquared: Infinity, nonFinite: true })]);
    expect(v?.offender).toBe("w1");
  });

  it("without local evidence, names the lowest stage whose reported loss or norm is non-finite", () => {
    const v = findNonFinite(9, [w(0, 0, 0), w(1, 0, 1, { lossSum: Number.NaN }), w(2, 0, 2, { gradNormSquared: -Infinity })]);
    expect(v).toEqual({ step: 9, offender: "w1", suspects: ["w1", "w2"], evidence: "reported loss or gradient norm" });
  });
});

describe("allFinite", () => {
  it("finds a single NaN or infinity anywhere in the tensors", () => {
    const ok = [{ data: new Float32Array([1, 2, 3]) }, { data: new Float32Array([0, -1]) }];
    expect(allFinite(ok)).toBe(true);
    const nan = [{ data: new Float32Array([1, 2, 3]) }, { data: new Float32Array([0, Number.NaN]) }];
    expect(allFinite(nan)).toBe(false);
    expect(allFinite([{ data: new Float32Array([Infinity]) }])).toBe(false);
    expect(allFinite([])).toBe(true);
  });
});

describe("RepeatOffenders", () => {
  it("follows the worked example: a repeat within the window, then the history starts over", () => {
    const r = new RepeatOffenders(10);
    expect(r.offended("a", 3)).toBe(false);
    expect(r.offended("a", 20)).toBe(false);
    expect(r.offended("b", 21)).toBe(false);
    expect(r.offended("a", 25)).toBe(true);
    expect(r.offended("a", 26)).toBe(false); // restarted: counts from scratch
    expect(r.offended("a", 36)).toBe(true); // exactly 10 steps later is within the window
  });

  it("refuses a window that is not a positive integer", () => {
    expect(() => new RepeatOffenders(0)).toThrow(NonFiniteOptionsError);
    expect(() => new RepeatOffenders(1.5)).toThrow(/integer ≥ 1 steps, got 1.5/);
  });
});

describe("RepeatOffenders and reruns", () => {
  it("the same step reported again (a rerun after a recovery) is one offence, not a repeat", () => {
    const r = new RepeatOffenders(10);
    expect(r.offended("a", 4)).toBe(false);
    expect(r.offended("a", 4)).toBe(false);
    expect(r.offended("a", 6)).toBe(true);
  });
});
