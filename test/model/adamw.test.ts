import { describe, expect, it } from "vitest";
import { createGpt } from "../../ml/model/mod.ts";
import type { GptConfig, NamedTensor } from "../../ml/model/types.ts";
import { clipScale, createAdamW } from "../../ml/optim/mod.ts";
import { referenceBackend } from "../../native/reference/mod.ts";
import { expectClose, randn64, rng } from "../native/helpers.ts";

const tiny: GptConfig = { vocabSize: 13, seqLen: 4, layers: 1, dModel: 8, heads: 2 };

/** Plain float64 AdamW over named tensors, written from the paper / torch docs. */
function referenceAdamW(params: Float64Array[], decay: boolean[]) {
  const m = params.map((p) => new Float64Array(p.length)),
    v = params.map((p) => new Float64Array(p.length));
  let t = 0;
  return (grads: Float32Array[], lr: number, scale: number) => {
    t++;
    params.forEach((p, k) => {
      for (let i = 0; i < p.length; i++) {
        const g = grads[k]![i]! * scale;
        m[k]![i] = 0.9 * m[k]![i]! + 0.1 * g;
        v[k]![i] = 0.95 * v[k]![i]! + 0.05 * g * g;
        const mhat = m[k]![i]! / (1 - 0.9 ** t),
          vhat = v[k]![i]! / (1 - 0.95 ** t);
        p[i] = p[i]! - lr * (decay[k] ? 0.1 : 0) * p[i]! - (lr * mhat) / (Math.sqrt(vhat) + 1e-8);
      }
    });
  };
}

function source(seed: number) {
  const rand = rng(seed);
  const mk = (name: string, shape: number[]): NamedTensor => ({
    name,
    shape,
    data: Float32Array.from(
      randn64(
        shape.reduce((a, b) => a * b, 1),
        rand,
      ),
    ),
  });
  const params = [mk("w", [3, 5]), mk("b", [5]), mk("ln.weight", [5])];
  const grads = params.map((p) => ({ ...p, data: new Float32Array(p.data.length) }));
  return { params, grads, parameters: () => params, gradients: () => grads, rand };
}

describe("AdamW", () => {
  it.each([["native"], ["reference"]])("%s: matches a float64 reference over several steps, decaying matrices only", async (which) => {
    const s = source(1);
    const opt = createAdamW(s, {}, which === "reference" ? referenceBackend : undefined);
    const refParams = s.params.map((p) => Float64Array.from(p.data));
    const step = referenceAdamW(refParams, [true, false, false]);
    for (let k = 0; k < 4; k++) {
      s.grads.forEach((g) => g.data.set(Float32Array.from(randn64(g.data.length, s.rand))));
      await opt.step(1e-2 * (k + 1), 0.5);
      step(
        s.grads.map((g) => g.data),
        1e-2 * (k + 1),
        0.5,
      );
    }
    expect(opt.stepCount).toBe(4);
    s.params.forEach((p, i) => expectClose(p.data, refParams[i]!, 1e-5, 1e-6, p.name));
    expect(opt.state().map((t) => t.name)).toEqual([
      "w.exp_avg",
      "w.exp_avg_sq",
      "b.exp_avg",
      "b.exp_avg_sq",
      "ln.weight.exp_avg",
      "ln.weight.exp_avg_sq",
    ]);
  });

  it("with zero gradients only the matrices shrink (weight decay), biases and gains stay", async () => {
    const s = source(2);
    const before = s.params.map((p) => Float32Array.from(p.data));
    await createAdamW(s).step(0.1, 1);
    expectClose(
      s.params[0]!.data,
      Float64Array.from(before[0]!, (x) => x * (1 - 0.1 * 0.1)),
      1e-6,
      1e-7,
      "w",
    );
    expect(s.params[1]!.data).toEqual(before[1]);
    expect(s.params[2]!.data).toEqual(before[2]);
  });

  it("computes the global gradient norm over every tensor, and the clip factor", async () => {
    const s = source(3);
    s.grads[0]!.data.fill(1); // 15 ones
    s.grads[1]!.data.fill(2); // 5 twos
    const opt = createAdamW(s);
    expect(await opt.gradNormSquared()).toBe(15 + 20);
    expect(await opt.gradNorm()).toBeCloseTo(Math.sqrt(35), 10);
    expect(clipScale(Math.sqrt(35), 1)).toBeCloseTo(1 / Math.sqrt(35), 12);
    expect(clipScale(0.5, 1)).toBe(1);
  });

  it("trains the GPT: loss on a fixed batch drops, and two runs with one seed are bit-identical", async () => {
    const run = async () => {
      const model = await createGpt(tiny, { seed: 9 });
      const opt = createAdamW(model);
      const inputs = Int32Array.from({ length: 8 }, (_, i) => (i * 5) % 13),
        targets = Int32Array.from({ length: 8 }, (_, i) => (i * 5 + 1) % 13);
      const losses: number[] = [];
      for (let k = 0; k < 15; k++) {
        await model.zeroGrad();
        losses.push((await model.forwardBackward(inputs, targets, 2, 1)).loss);
        await opt.step(3e-2, clipScale(await opt.gradNorm(), 1));
      }
      return { losses, params: model.parameters().map((p) => Float32Array.from(p.data)) };
    };
    const a = await run(),
      b = await run();
    expect(a.losses.at(-1)!).toBeLessThan(a.losses[0]! * 0.5);
    expect(b.losses).toEqual(a.losses);
    a.params.forEach((p, i) => expect(Buffer.from(b.params[i]!.buffer).equals(Buffer.from(p.buffer))).toBe(true));
  });

  it("rejects bad hyperparameters and arguments", async () => {
    const s = source(4);
    expect(() => createAdamW(s, { beta2: 1 })).toThrow(/optimizer\.beta2 = 1/);
    expect(() => createAdamW(s, { eps: 0 })).toThrow(/optimizer\.eps = 0/);
    await expect(createAdamW(s).step(NaN, 1)).rejects.toThrow(/'lr'/);
  });
});
