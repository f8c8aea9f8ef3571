// Interfaces between the training loop and what feeds and watches it.

export interface TokenBatch {
  inputs: Int32Array; // [count * seqLen]
  targets: Int32Array; // [count * seqLen], inputs shifted by one
}

/** Batches as pure functions of their index, so a resumed run sees exactly the batches it would have. */
export interface TrainingData {
  /** `count` training sequences starting at global sample index `first`. */
  trainBatch(first: number, count: number): TokenBatch;
  /** Held-out micro-batch number `index` (the same every time it is asked for). */
  validationBatch(index: number, count: number): TokenBatch;
}

/** Where training stands; everything needed (with the weights) to continue bit for bit. */
export interface TrainProgress {
  step: number; // steps completed
  tokensSeen: number;
  samplesSeen: number;
}

export interface StepReport extends TrainProgress {
  loss: number;
  gradNorm: number;
  clipped: boolean;
  lr: number;
  batchSize: number;
  stepSeconds: number;
}
