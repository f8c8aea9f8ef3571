import { describe, expect, it } from "vitest";
import { SeededRandom, deriveSeed } from "../../ml/generate/rng.ts";
import { argmax, chooseToken, samplingDistribution, softmax, validateSamplingOptions } from "../../ml/generate/sampling.ts";

// log of a known distribution, so the expected probabilities are easy to write down.
const probsToLogits = (p: number[]): Float32Array => Float32Array.from(p, (x) => Math.log(x) + 3);

function histogram(logits: Float32Array, options: Parameters<typeof chooseToken>[1], draws: number, seed: number) {
  const rng = new SeededRandom(seed);
  const counts = new Array<number>(logits.length).fill(0);
  for (let i = 0; i < draws; i++) counts[chooseToken(logits, options, rng)]++;
  return counts;
}

/** Pearson chi-square statistic of counts against expected probabilities (cells with p>0). */
function chiSquare(counts: number[], probs: ArrayLike<number>, draws: number): number {
  let chi = 0;
  for (let i = 0; i < counts.length; i++) {
    if (probs[i] === 0) continue;
    const expected = probs[i] * draws;
    chi += (counts[i] - expected) ** 2 / expected;
  }
  return chi;
}

describe("SeededRandom", () => {
  it("repeats its sequence for a seed and differs across seeds", () => {
    const a = new SeededRandom(7),
      b = new SeededRandom(7),
      c = new SeededRandom(8);
    const sa = Array.from({ length: 5 }, () => a.nextUint32());
    expect(Array.from({ length: 5 }, () => b.nextUint32())).toEqual(sa);
    expect(Array.from({ length: 5 }, () => c.nextUint32())).not.toEqual(sa);
  });

  it("is close to uniform on [0,1)", () => {
    const rng = new SeededRandom(1);
    const bins = new Array<number>(10).fill(0);
    for (let i = 0; i < 20000; i++) bins[Math.floor(rng.next() * 10)]++;
    // chi-square with 9 degrees of freedom: 99.9% quantile is 27.9
    expect(chiSquare(bins, new Array(10).fill(0.1), 20000)).toBeLessThan(27.9);
  });

  it("derives different seeds from different parts", () => {
    expect(deriveSeed(1, 2)).not.toBe(deriveSeed(1, 3));
    expect(deriveSeed(1, 2)).toBe(deriveSeed(1, 2));
  });
});

describe("sampling distributions", () => {
  const p = [0.1, 0.4, 0.05, 0.3, 0.15];
  const logits = probsToLogits(p);

  it("argmax takes the first of equal maxima", () => {
    expect(argmax([1, 3, 3, 2])).toBe(1);
  });

  it("softmax recovers the distribution and temperature sharpens it", () => {
    const s = softmax(logits);
    p.forEach((x, i) => expect(s[i]).toBeCloseTo(x, 6));
    const t = softmax(logits, 0.5); // p^2 renormalised
    const z = p.reduce((a, x) => a + x * x, 0);
    p.forEach((x, i) => expect(t[i]).toBeCloseTo((x * x) / z, 6));
  });

  it("greedy puts all mass on the argmax", () => {
    expect(Array.from(samplingDistribution(logits, { temperature: 0 }))).toEqual([0, 1, 0, 0, 0]);
  });

  it("top-k keeps the k most likely, renormalised", () => {
    const d = samplingDistribution(logits, { temperature: 1, topK: 2 });
    expect(d[1]).toBeCloseTo(0.4 / 0.7, 7);
    expect(d[3]).toBeCloseTo(0.3 / 0.7, 7);
    expect(d[0] + d[2] + d[4]).toBe(0);
  });

  it("top-p keeps the smallest set reaching p", () => {
    // ranked: 0.4, 0.3, 0.15, 0.1, 0.05 -> cumulative 0.4, 0.7, 0.85, ...
    const d = samplingDistribution(logits, { temperature: 1, topP: 0.75 });
    expect(d[1]).toBeCloseTo(0.4 / 0.85, 7);
    expect(d[3]).toBeCloseTo(0.3 / 0.85, 7);
    expect(d[4]).toBeCloseTo(0.15 / 0.85, 7);
    expect(d[0] + d[2]).toBe(0);
    // a tiny p still keeps the single most likely token
    expect(Array.from(samplingDistribution(logits, { temperature: 1, topP: 0.01 }))).toEqual([0, 1, 0, 0, 0]);
  });

  it("applies temperature before top-k and top-p", () => {
    // temperature 0.5 squares p: top 3 are 0.16, 0.09, 0.0225 -> renormalised 0.587, 0.330, 0.083;
    // 0.587 + 0.330 >= 0.9, so top-p keeps two of them
    const d = samplingDistribution(logits, { temperature: 0.5, topK: 3, topP: 0.9 });
    expect(d[1]).toBeCloseTo(0.16 / 0.25, 7);
    expect(d[3]).toBeCloseTo(0.09 / 0.25, 7);
    expect(d[0] + d[2] + d[4]).toBe(0);
  });
});

describe("drawing tokens", () => {
  const logits = probsToLogits([0.1, 0.4, 0.05, 0.3, 0.15]);
  const draws = 20000;

  it("temperature sampling follows the softmax (chi-square, 4 dof)", () => {
    const counts = histogram(logits, { temperature: 1 }, draws, 11);
    expect(chiSquare(counts, softmax(logits), draws)).toBeLessThan(18.5); // 99.9% quantile
  });

  it("top-k sampling never leaves the kept set and follows its weights (2 dof)", () => {
    const options = { temperature: 0.8, topK: 3 };
    const counts = histogram(logits, options, draws, 12);
    expect(counts[0] + counts[2]).toBe(0);
    expect(chiSquare(counts, samplingDistribution(logits, options), draws)).toBeLessThan(13.8);
  });

  it("top-p sampling never leaves the nucleus (1 dof)", () => {
    const options = { temperature: 1, topP: 0.6 };
    const counts = histogram(logits, options, draws, 13);
    expect(counts[0] + counts[2] + counts[4]).toBe(0);
    expect(chiSquare(counts, samplingDistribution(logits, options), draws)).toBeLessThan(10.8);
  });

  it("is reproducible from the seed", () => {
    expect(histogram(logits, { temperature: 1 }, 200, 5)).toEqual(histogram(logits, { temperature: 1 }, 200, 5));
  });

  it("greedy always picks the argmax", () => {
    expect(histogram(logits, { temperature: 0 }, 50, 1)).toEqual([0, 50, 0, 0, 0]);
  });

  it("rejects options that are not a distribution", () => {
    expect(() => validateSamplingOptions({ temperature: -1 })).toThrow(/temperature/);
    expect(() => validateSamplingOptions({ temperature: 1, topK: 1.5 })).toThrow(/top-k/);
    expect(() => validateSamplingOptions({ temperature: 1, topP: 0 })).toThrow(/top-p/);
    expect(() => validateSamplingOptions({ temperature: 1, topP: 1.2 })).toThrow(/top-p/);
  });
});
