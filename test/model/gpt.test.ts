import { describe, expect, it } from "vitest";
import { createGpt, gptParameterLayout, ModelBusyError, modelFlopsPerToken, type Gpt } from "../../ml/model/mod.ts";
import type { GptConfig } from "../../ml/model/types.ts";
import { referenceBackend } from "../../native/reference/mod.ts";
import { expectClose, randn64, rng } from "../native/helpers.ts";

const tiny: GptConfig = { vocabSize: 11, seqLen: 5, layers: 2, dModel: 8, heads: 2 };

function tokens(n: number, vocab: number, seed: number): Int32Array {
  const rand = rng(seed);
  return Int32Array.from({ length: n }, () => Math.floor(rand() * vocab));
}

/** Moves the parameters away from init (where many gradients are tiny) to a generic point. */
function perturb(model: Gpt, seed: number, scale = 0.3): void {
  const rand = rng(seed);
  for (const p of model.parameters()) {
    const noise = randn64(p.data.length, rand, scale);
    for (let i = 0; i < p.data.length; i++) p.data[i]! += noise[i]!;
  }
}

describe("GPT parameters", () => {
  it("have stable descriptive names, shapes and one fixed order shared with the gradients", async () => {
    const model = await createGpt(tiny, { seed: 1 });
    const names = model.parameters().map((p) => p.name);
    expect(names.slice(0, 4)).toEqual(["wte", "wpe", "h.0.ln1.weight", "h.0.ln1.bias"]);
    expect(names).toContain("h.1.attn.qkv.weight");
    expect(names).toContain("h.1.mlp.proj.bias");
    expect(names.at(-1)).toBe("lnf.bias");
    expect(model.gradients().map((g) => g.name)).toEqual(names);
    const qkv = model.parameters().find((p) => p.name === "h.0.attn.qkv.weight")!;
    expect(qkv.shape).toEqual([24, 8]);
    expect(qkv.data.length).toBe(192);
    expect(model.parameterCount()).toBe(gptParameterLayout(tiny).reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0));
    expect(modelFlopsPerToken(tiny)).toBe(6 * model.parameterCount() + 12 * 2 * 5 * 8);
  });

  it("initialise as GPT-2: N(0, 0.02), residual projections scaled by 1/sqrt(2·layers), LN 1/0, biases 0", async () => {
    const model = await createGpt({ vocabSize: 64, seqLen: 16, layers: 8, dModel: 64, heads: 4 }, { seed: 7 });
    const std = (a: Float32Array) => Math.sqrt(a.reduce((s, x) => s + x * x, 0) / a.length);
    const get = (n: string) => model.parameters().find((p) => p.name === n)!.data;
    expect(std(get("h.0.mlp.fc.weight"))).toBeCloseTo(0.02, 3);
    expect(std(get("wte"))).toBeCloseTo(0.02, 2);
    expect(std(get("h.3.attn.proj.weight")) / (0.02 / 4)).toBeCloseTo(1, 1);
    expect(std(get("h.3.mlp.proj.weight")) / (0.02 / 4)).toBeCloseTo(1, 1);
    expect(get("h.2.ln1.weight").every((x) => x === 1)).toBe(true);
    expect(get("h.2.attn.qkv.bias").every((x) => x === 0)).toBe(true);
  });

  it("are bit-identical for the same seed and differ for another; each tensor depends only on (seed, name)", async () => {
    const a = await createGpt(tiny, { seed: 3 }),
      b = await createGpt(tiny, { seed: 3 }),
      c = await createGpt(tiny, { seed: 4 });
    a.parameters().forEach((p, i) =>
      expect(
        Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength).equals(
          Buffer.from(b.parameters()[i]!.data.buffer, b.parameters()[i]!.data.byteOffset, p.data.byteLength),
        ),
      ).toBe(true),
    );
    expect(c.parameters()[0]!.data).not.toEqual(a.parameters()[0]!.data);
    const deeper = await createGpt({ ...tiny, layers: 3 }, { seed: 3 });
    expect(deeper.parameters().find((p) => p.name === "h.0.mlp.fc.weight")!.data).toEqual(
      a.parameters().find((p) => p.name === "h.0.mlp.fc.weight")!.data,
    );
  });

  it("reject a bad config naming the field", async () => {
    await expect(createGpt({ ...tiny, heads: 3 }, { seed: 1 })).rejects.toThrow(
      /model\.dModel = 8: must be a multiple of model\.heads \(3\)/,
    );
    await expect(createGpt({ ...tiny, layers: 0 }, { seed: 1 })).rejects.toThrow(/model\.layers = 0/);
    await expect(createGpt({ ...tiny, vocabSize: 2.5 }, { seed: 1 })).rejects.toThrow(/model\.vocabSize = 2\.5/);
  });
});

describe("GPT forward/backward", () => {
  const batch = 2,
    n = batch * tiny.seqLen;
  const inputs = tokens(n, tiny.vocabSize, 1),
    targets = tokens(n, tiny.vocabSize, 2);

  it("gradient of every tensor matches finite differences of the loss", async () => {
    const model = await createGpt(tiny, { seed: 5 });
    perturb(model, 6);
    await model.zeroGrad();
    await model.forwardBackward(inputs, targets, batch, 1);
    const rand = rng(17);
    const eps = 1e-2;
    for (const [i, p] of model.parameters().entries()) {
      const g = model.gradients()[i]!.data;
      for (let s = 0; s < 4; s++) {
        const j = Math.floor(rand() * p.data.length);
        const keep = p.data[j]!;
        p.data[j] = keep + eps;
        const up = await model.evaluate(inputs, targets, batch);
        p.data[j] = keep - eps;
        const down = await model.evaluate(inputs, targets, batch);
        p.data[j] = keep;
        const numeric = (up - down) / (2 * eps);
        expect(Math.abs(g[j]! - numeric), `${p.name}[${j}]: analytic ${g[j]} numeric ${numeric}`).toBeLessThan(
          2e-3 + 3e-2 * Math.abs(numeric),
        );
      }
    }
  });

  it("native and reference backends agree on loss and every gradient", async () => {
    const native = await createGpt(tiny, { seed: 8 }),
      reference = await createGpt(tiny, { seed: 8, backend: referenceBackend });
    perturb(native, 9);
    perturb(reference, 9);
    const a = await native.forwardBackward(inputs, targets, batch, 1);
    const b = await reference.forwardBackward(inputs, targets, batch, 1);
    expect(a.loss).toBeCloseTo(b.loss, 5);
    native.gradients().forEach((g, i) => expectClose(g.data, reference.gradients()[i]!.data, 1e-3, 1e-5, g.name));
  });

  it("accumulates micro-batches: two halves at gradScale 1/2 equal one full batch", async () => {
    const whole = await createGpt(tiny, { seed: 2 }),
      split = await createGpt(tiny, { seed: 2 });
    const full = await whole.forwardBackward(inputs, targets, batch, 1);
    const half = tiny.seqLen;
    const first = await split.forwardBackward(inputs.subarray(0, half), targets.subarray(0, half), 1, 0.5);
    const second = await split.forwardBackward(inputs.subarray(half), targets.subarray(half), 1, 0.5);
    expect((first.loss + second.loss) / 2).toBeCloseTo(full.loss, 6);
    whole.gradients().forEach((g, i) => expectClose(split.gradients()[i]!.data, g.data, 1e-4, 1e-7, g.name));
    await split.zeroGrad();
    expect(split.gradients().every((g) => g.data.every((x) => x === 0))).toBe(true);
  });

  it("evaluate and tokenLogProbs agree with the training loss", async () => {
    const model = await createGpt(tiny, { seed: 4 });
    const { loss } = await model.forwardBackward(inputs, targets, batch, 1);
    expect(await model.evaluate(inputs, targets, batch)).toBe(loss);
    const lp = await model.tokenLogProbs(inputs, targets, batch);
    expect(lp.length).toBe(n);
    expect(lp.every((x) => x < 0)).toBe(true);
    expect(-lp.reduce((s, x) => s + x, 0) / n).toBeCloseTo(loss, 5);
  });

  it("gives each sequence the same loss whatever the batch size (buffers per batch size are reused or replaced)", async () => {
    const model = await createGpt(tiny, { seed: 6 });
    const three = tokens(3 * tiny.seqLen, tiny.vocabSize, 7),
      threeTargets = tokens(3 * tiny.seqLen, tiny.vocabSize, 8);
    const all = await model.tokenLogProbs(three, threeTargets, 3);
    for (const b of [1, 2, 3, 1, 2]) {
      const lp = await model.tokenLogProbs(three.subarray(0, b * tiny.seqLen), threeTargets.subarray(0, b * tiny.seqLen), b);
      expectClose(lp, all.subarray(0, b * tiny.seqLen), 1e-5, 1e-6, `batch ${b}`);
    }
  });

  it("rejects bad inputs with errors naming them, and overlapping calls", async () => {
    const model = await createGpt(tiny, { seed: 1 });
    await expect(model.forwardBackward(inputs.subarray(1), targets, batch, 1)).rejects.toThrow(
      /'inputs' has 9 tokens, expected batch\*seqLen = 2\*5 = 10/,
    );
    const bad = Int32Array.from(targets);
    bad[3] = 11;
    await expect(model.evaluate(inputs, bad, batch)).rejects.toThrow(/'targets'\[3\] = 11 is outside the vocabulary \[0, 11\)/);
    await expect(model.evaluate(inputs, targets, 0)).rejects.toThrow(RangeError);
    const running = model.forwardBackward(inputs, targets, batch, 1);
    await expect(model.evaluate(inputs, targets, batch)).rejects.toThrow(ModelBusyError);
    await running;
  });
});

describe("GPT decoder", () => {
  it("gives, step by step with a KV cache, the same next-token distributions as the full forward", async () => {
    const model = await createGpt(tiny, { seed: 12 });
    perturb(model, 13);
    const batch = 2,
      n = batch * tiny.seqLen,
      v = tiny.vocabSize;
    const inputs = tokens(n, v, 3);
    // Full-forward log-probabilities of every vocabulary entry at every position.
    const full: Float32Array[] = [];
    for (let t = 0; t < v; t++) full.push(await model.tokenLogProbs(inputs, new Int32Array(n).fill(t), batch));
    const decoder = model.createDecoder(batch);
    for (let pos = 0; pos < tiny.seqLen; pos++) {
      const step = Int32Array.from({ length: batch }, (_, b) => inputs[b * tiny.seqLen + pos]!);
      const logits = await decoder.step(step);
      expect(logits.length).toBe(batch * v);
      for (let b = 0; b < batch; b++) {
        const row = logits.subarray(b * v, (b + 1) * v);
        const mx = Math.max(...row);
        const lse = mx + Math.log(row.reduce((s, x) => s + Math.exp(x - mx), 0));
        for (let t = 0; t < v; t++) expect(row[t]! - lse).toBeCloseTo(full[t]![b * tiny.seqLen + pos]!, 4);
      }
    }
    expect(decoder.length).toBe(tiny.seqLen);
    await expect(decoder.step(new Int32Array(batch))).rejects.toThrow(/cache is full/);
    decoder.reset();
    expect(decoder.length).toBe(0);
    const again = await decoder.step(Int32Array.from([inputs[0]!, inputs[tiny.seqLen]!]));
    expect(again.length).toBe(batch * v);
  });
});
