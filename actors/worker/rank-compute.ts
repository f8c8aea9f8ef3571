// What a worker runs for its part of a step, behind one small interface so the data-parallel
// replica (data-parallel-compute.ts) and the tensor/pipeline stage model plug into the same worker.
import type { NamedTensor } from "../../ml/model/types.ts";

export interface StepWork {
  step: number;
  firstSample: number;
  microBatches: number;
  microBatch: number;
  totalMicroBatches: number;
}

export interface RankStepResult {
  /** Sum of the losses of this rank's micro-batches (0 on ranks that compute no loss). */
  lossSum: number;
  /** Sum of squared gradients held by this rank after all gradient reductions. */
  gradNormSquared: number;
  /** This rank's own gradients or loss were NaN/inf before any reduction (absent: not measured). */
  nonFinite?: boolean;
  /** Wall time of the step minus the time blocked in collectives, ms (absent: not measured). */
  busyMs?: number;
}

export interface RankCompute {
  /** Forward/backward of this rank's micro-batches and every gradient reduction of the step. */
  runStep(work: StepWork): Promise<RankStepResult>;
  /** Optimizer step with the gradients multiplied by `clipScale`. */
  apply(lr: number, clipScale: number): Promise<void>;
  /** Mean loss over the first `batches` held-out micro-batches (forward only). */
  validationLoss(batches: number, microBatch: number, step: number): Promise<number>;
  parameters(): NamedTensor[];
  optimizerState(): NamedTensor[];
  /** AdamW's step count (bias correction); set when the state comes from a peer or a rebuilt compute. */
  optimizerStepCount: number;
}
