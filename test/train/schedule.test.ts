import { describe, expect, it } from "vitest";
import { batchSizeAt, lrAt, planRun, type BatchRamp, type LrSchedule } from "../../ml/train/schedule.ts";

const lr: LrSchedule = { peak: 1e-3, warmupTokens: 1000, decayTokens: 11000, minRatio: 0.1 };
const ramp: BatchRamp = { start: 4, increment: 4, final: 16, rampTokens: 3000 };

describe("lrAt", () => {
  it("warms up linearly from 0 to the peak", () => {
    expect(lrAt(lr, 0)).toBe(0);
    expect(lrAt(lr, 250)).toBeCloseTo(2.5e-4, 15);
    expect(lrAt(lr, 500)).toBeCloseTo(5e-4, 15);
    expect(lrAt(lr, 1000)).toBe(1e-3);
  });

  it("follows the cosine to 10% of peak at the horizon, then stays there", () => {
    expect(lrAt(lr, 6000)).toBeCloseTo(1e-4 + 0.5 * 9e-4, 15); // halfway: cos(pi/2) = 0
    expect(lrAt(lr, 3500)).toBeCloseTo(1e-4 + 0.5 * (1 + Math.cos(Math.PI / 4)) * 9e-4, 15);
    expect(lrAt(lr, 11000)).toBeCloseTo(1e-4, 15);
    expect(lrAt(lr, 1e9)).toBeCloseTo(1e-4, 15);
  });

  it("rises monotonically through warmup and falls monotonically after", () => {
    let prev = -1;
    for (let t = 0; t <= 1000; t += 37) {
      expect(lrAt(lr, t)).toBeGreaterThan(prev);
      prev = lrAt(lr, t);
    }
    prev = Infinity;
    for (let t = 1000; t <= 11000; t += 97) {
      expect(lrAt(lr, t)).toBeLessThan(prev);
      prev = lrAt(lr, t);
    }
  });

  it("with no warmup starts at the peak", () => {
    expect(lrAt({ ...lr, warmupTokens: 0 }, 0)).toBe(1e-3);
  });
});

describe("batchSizeAt", () => {
  it("grows in fixed increments over equal token slices (Megatron ramp-up)", () => {
    expect(batchSizeAt(ramp, 0)).toBe(4);
    expect(batchSizeAt(ramp, 999)).toBe(4);
    expect(batchSizeAt(ramp, 1000)).toBe(8);
    expect(batchSizeAt(ramp, 1999)).toBe(8);
    expect(batchSizeAt(ramp, 2000)).toBe(12);
    expect(batchSizeAt(ramp, 2999)).toBe(12);
    expect(batchSizeAt(ramp, 3000)).toBe(16);
    expect(batchSizeAt(ramp, 1e12)).toBe(16);
  });

  it("never decreases", () => {
    let prev = 0;
    for (let t = 0; t < 5000; t += 13) {
      const b = batchSizeAt(ramp, t);
      expect(b).toBeGreaterThanOrEqual(prev);
      prev = b;
    }
  });

  it("is constant without a ramp", () => {
    expect(batchSizeAt({ start: 8, increment: 8, final: 8, rampTokens: 0 }, 0)).toBe(8);
  });
});

describe("planRun", () => {
  it("counts ramped steps exactly", () => {
    // seqLen 100: steps of 400, 400, 400 (tokens 0..1200), then 800 ... until 3000, then 1600 each.
    const plan = planRun(ramp, 100, { steps: 3 });
    expect(plan).toEqual({ steps: 3, tokens: 1200 });
    let tokens = 0;
    for (let s = 0; s < 10; s++) tokens += batchSizeAt(ramp, tokens) * 100;
    expect(planRun(ramp, 100, { steps: 10 })).toEqual({ steps: 10, tokens });
  });

  it("reaches a token target with the first step that passes it", () => {
    const plan = planRun(ramp, 100, { tokens: 10_000 });
    let tokens = 0;
    let steps = 0;
    while (tokens < 10_000) {
      tokens += batchSizeAt(ramp, tokens) * 100;
      steps++;
    }
    expect(plan).toEqual({ steps, tokens });
  });
});
