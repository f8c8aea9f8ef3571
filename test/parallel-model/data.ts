// Shared by the parallel-model tests: the tiny model, deterministic token data, and the single-rank reference run.
import { createGpt } from "../../ml/model/gpt.ts";
import type { GptConfig } from "../../ml/model/types.ts";
import { AdamW } from "../../ml/optim/adamw.ts";
import { clipScaleFor } from "../../ml/train/step.ts";

export const TINY: GptConfig = { vocabSize: 256, seqLen: 32, layers: 4, dModel: 64, heads: 4 };
export const SEED = 1234;
export const LR = 3e-3;
export const CLIP = 0.5; // low enough that some steps clip
export const MICRO_BATCH = 1;

/** Global micro-batch `index` of `step`: inputs and next-token targets from one pseudo-random sequence. */
export function microbatchTokens(
  step: number,
  index: number,
  config: GptConfig = TINY,
  microBatch = MICRO_BATCH,
): { inputs: Int32Array; targets: Int32Array } {
  const n = microBatch * config.seqLen;
  const inputs = new Int32Array(n),
    targets = new Int32Array(n);
  let h = (Math.imul(step + 1, 0x9e3779b1) ^ Math.imul(index + 7, 0x85ebca6b)) >>> 0;
  const next = () => {
    h = (Math.imul(h, 1664525) + 1013904223) >>> 0;
    return (h >>> 8) % config.vocabSize;
  };
  for (let b = 0; b < microBatch; b++) {
    let t = next();
    for (let i = 0; i < config.seqLen; i++) {
      inputs[b * config.seqLen + i] = t;
      // a learnable rule half the time, noise otherwise
      t = i % 2 === 0 ? (t * 5 + 3) % config.vocabSize : next();
      targets[b * config.seqLen + i] = t;
    }
  }
  return { inputs, targets };
}

/** Replica `replica`'s micro-batches of a step: global micro-batches replica·m … replica·m + m − 1. */
export function replicaBatch(step: number, replica: number, microbatches: number): { inputs: Int32Array[]; targets: Int32Array[] } {
  const mbs = Array.from({ length: microbatches }, (_, i) => microbatchTokens(step, replica * microbatches + i));
  return { inputs: mbs.map((b) => b.inputs), targets: mbs.map((b) => b.targets) };
}

/** Held-out micro-batch `index` (a step number no training step uses). */
export function validationTokens(index: number): { inputs: Int32Array; targets: Int32Array } {
  return microbatchTokens(1_000_000, index);
}

/** Micro-batches per replica of each step when a run ramps its batch up (the rest of the steps: the last entry). */
export function microbatchesAt(ramp: readonly number[] | undefined, step: number, fixed: number): number {
  return ramp ? ramp[Math.min(step, ramp.length - 1)]! : fixed;
}

/**
 * Losses and gradient norms of `steps` steps of the single-rank model on the global batch (dp·m micro-batches per
 * step; `globalMicrobatches` may vary by step), and with `validationBatches` the validation loss before and after.
 */
export async function singleRankRun(
  steps: number,
  globalMicrobatches: number | ((step: number) => number),
  validationBatches = 0,
): Promise<{ losses: number[]; norms: number[]; validation: number[] }> {
  const model = await createGpt(TINY, { seed: SEED });
  const opt = new AdamW(model);
  const losses: number[] = [],
    norms: number[] = [],
    validation: number[] = [];
  const validate = async () => {
    let sum = 0;
    for (let i = 0; i < validationBatches; i++) {
      const { inputs, targets } = validationTokens(i);
      sum += await model.evaluate(inputs, targets, MICRO_BATCH);
    }
    validation.push(sum / validationBatches);
  };
  if (validationBatches > 0) await validate();
  for (let s = 0; s < steps; s++) {
    const count = typeof globalMicrobatches === "number" ? globalMicrobatches : globalMicrobatches(s);
    await model.zeroGrad();
    let sum = 0;
    for (let i = 0; i < count; i++) {
      const { inputs, targets } = microbatchTokens(s, i);
      sum += (await model.forwardBackward(inputs, targets, MICRO_BATCH, 1 / count)).loss;
    }
    const norm = await opt.gradNorm();
    await opt.step(LR, clipScaleFor(norm, CLIP));
    losses.push(sum / count);
    norms.push(norm);
  }
  if (validationBatches > 0) await validate();
  return { losses, norms, validation };
}
