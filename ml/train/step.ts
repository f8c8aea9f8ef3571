// One optimizer step: gradient accumulation over micro-batches, global grad-norm clipping, AdamW.
import type { GptModel, Optimizer } from "../model/types.ts";
import { NonFiniteLossError } from "./errors.ts";
import type { TrainingData } from "./types.ts";

export interface StepInput {
  step: number; // 1-based number of the step being taken (for messages)
  firstSample: number; // global index of the step's first sequence
  batchSize: number; // sequences in this step
  microBatch: number; // sequences per forward/backward
  lr: number;
  clip: number; // max global gradient L2 norm
}

export interface StepOutput {
  loss: number; // mean over the step's tokens
  gradNorm: number; // before clipping
  clipScale: number; // factor applied to the gradients (1 when not clipped)
}

/** Megatron's rule: scale by clip / (norm + 1e-6) only when that is below 1. */
export function clipScaleFor(gradNorm: number, clip: number): number {
  const coeff = clip / (gradNorm + 1e-6);
  return coeff < 1 ? coeff : 1;
}

export async function trainStep(model: GptModel, optimizer: Optimizer, data: TrainingData, s: StepInput): Promise<StepOutput> {
  if (s.batchSize % s.microBatch !== 0) throw new RangeError(`batch ${s.batchSize} is not a multiple of micro-batch ${s.microBatch}`);
  const micro = s.batchSize / s.microBatch;
  await model.zeroGrad();
  let lossSum = 0;
  for (let m = 0; m < micro; m++) {
    const { inputs, targets } = data.trainBatch(s.firstSample + m * s.microBatch, s.microBatch);
    const { loss } = await model.forwardBackward(inputs, targets, s.microBatch, 1 / micro);
    if (!Number.isFinite(loss)) throw new NonFiniteLossError(s.step, "loss", loss);
    lossSum += loss;
  }
  const gradNorm = await optimizer.gradNorm();
  if (!Number.isFinite(gradNorm)) throw new NonFiniteLossError(s.step, "gradient norm", gradNorm);
  const clipScale = clipScaleFor(gradNorm, s.clip);
  await optimizer.step(s.lr, clipScale);
  return { loss: lossSum / micro, gradNorm, clipScale };
}

/** Mean loss over `batches` fixed held-out micro-batches (forward only; parameters untouched). */
export async function validationLoss(
  model: GptModel,
  data: TrainingData,
  batches: number,
  microBatch: number,
  step: number,
): Promise<number> {
  let sum = 0;
  for (let i = 0; i < batches; i++) {
    const { inputs, targets } = data.validationBatch(i, microBatch);
    sum += await model.evaluate(inputs, targets, microBatch);
  }
  const loss = sum / batches;
  if (!Number.isFinite(loss)) throw new NonFiniteLossError(step, "validation loss", loss);
  return loss;
}
