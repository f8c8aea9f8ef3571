// Generation on a real random-init model: the KV-cache path and the recompute path agree token for
// token, across window slides.
import { beforeAll, describe, expect, it } from "vitest";
import { createGpt } from "../../ml/model/mod.ts";
import type { GptModel } from "../../ml/model/types.ts";
import { generate, windowStart } from "../../ml/generate/generate.ts";
import { samplingDistribution } from "../../ml/generate/sampling.ts";

describe("window", () => {
  it("stays put until full, then slides by half", () => {
    expect(windowStart(0, 16, 16)).toBe(0);
    expect(windowStart(0, 17, 16)).toBe(9);
    expect(windowStart(9, 25, 16)).toBe(9);
    expect(windowStart(9, 26, 16)).toBe(18);
  });
});

describe("generation on a random-init GPT", () => {
  let model: GptModel;
  beforeAll(async () => {
    // seqLen 16 so 40 new tokens slide the window several times
    model = await createGpt({ vocabSize: 64, seqLen: 16, layers: 2, dModel: 32, heads: 2 }, { seed: 3 });
  });
  const prompt = [1, 5, 9, 2, 33];

  it("KV cache and recompute give the same greedy tokens", async () => {
    const withCache = await generate(model, prompt, { maxNewTokens: 40, sampling: { temperature: 0 } });
    const without = await generate(model, prompt, { maxNewTokens: 40, sampling: { temperature: 0 }, useCache: false });
    expect(withCache.tokens).toHaveLength(40);
    expect(without.tokens).toEqual(withCache.tokens);
  });

  it("KV cache and recompute give the same sampled tokens for a seed; another seed differs", async () => {
    const sampling = { temperature: 1.5, topK: 20, topP: 0.95 };
    const a = await generate(model, prompt, { maxNewTokens: 30, sampling, seed: 9 });
    const b = await generate(model, prompt, { maxNewTokens: 30, sampling, seed: 9, useCache: false });
    const c = await generate(model, prompt, { maxNewTokens: 30, sampling, seed: 10 });
    expect(b.tokens).toEqual(a.tokens);
    expect(c.tokens).not.toEqual(a.tokens);
  });

  it("sampled first tokens follow the top-k distribution of the model's logits (chi-square, 7 dof)", async () => {
    const decoder = model.createDecoder(1);
    let logits!: Float32Array;
    for (const t of prompt) logits = await decoder.step(Int32Array.of(t));
    const sampling = { temperature: 0.7, topK: 8 };
    const expected = samplingDistribution(logits, sampling);
    const draws = 800;
    const counts = new Array<number>(64).fill(0);
    for (let seed = 0; seed < draws; seed++) {
      counts[(await generate(model, prompt, { maxNewTokens: 1, sampling, seed })).tokens[0]]++;
    }
    let chi = 0;
    counts.forEach((c, i) => {
      if (expected[i] === 0) expect(c).toBe(0);
      else chi += (c - expected[i] * draws) ** 2 / (expected[i] * draws);
    });
    expect(chi).toBeLessThan(24.3); // 99.9% quantile
  });

  it("streams every token and stops at a stop token", async () => {
    const first = await generate(model, prompt, { maxNewTokens: 10, sampling: { temperature: 0 } });
    const stop = first.tokens[3];
    const seen: number[] = [];
    const r = await generate(model, prompt, {
      maxNewTokens: 10,
      sampling: { temperature: 0 },
      stopTokens: [stop],
      onToken: (t) => void seen.push(t),
    });
    expect(r.stoppedBy).toBe("stop-token");
    expect(r.tokens).toEqual(first.tokens.slice(0, first.tokens.indexOf(stop) + 1));
    expect(seen).toEqual(r.tokens);
  });

  it("a prompt longer than the window keeps its last tokens", async () => {
    const long = Array.from({ length: 40 }, (_, i) => (i * 7) % 64);
    const a = await generate(model, long, { maxNewTokens: 5, sampling: { temperature: 0 } });
    const b = await generate(model, long.slice(-16), { maxNewTokens: 5, sampling: { temperature: 0 }, useCache: false });
    expect(a.tokens[0]).toBe(b.tokens[0]);
  });

  it("rejects bad input", async () => {
    await expect(generate(model, [], { maxNewTokens: 1, sampling: { temperature: 0 } })).rejects.toThrow(/prompt has no tokens/);
    await expect(generate(model, [64], { maxNewTokens: 1, sampling: { temperature: 0 } })).rejects.toThrow(
      /outside the vocabulary \[0, 64\)/,
    );
    await expect(generate(model, [1], { maxNewTokens: -1, sampling: { temperature: 0 } })).rejects.toThrow(/max new tokens/);
    await expect(generate(model, [1], { maxNewTokens: 1, sampling: { temperature: 1, topP: 2 } })).rejects.toThrow(/top-p/);
  });
});
