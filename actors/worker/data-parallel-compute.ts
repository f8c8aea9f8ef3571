// One data-parallel replica of the single-rank model: accumulate this replica's micro-batches with the
// gradient scale 1 / (micro-batches of the whole step), then sum the gradients over the DP group in
// buckets (fixed order, so every run reduces bit for bit the same way).
import { GradientBuckets } from "../../runtime/collectives/grad-buckets.ts";
import type { Collectives } from "../../runtime/collectives/types.ts";
import type { GptModel, NamedTensor, Optimizer } from "../../ml/model/types.ts";
import { validationLoss } from "../../ml/train/step.ts";
import type { TrainingData } from "../../ml/train/types.ts";
import { allFinite } from "../../ml/model/finite.ts";
import type { RankCompute, RankStepResult, StepWork } from "./rank-compute.ts";

type NormSquared = { gradNormSquared?: () => Promise<number> };

export class DataParallelCompute implements RankCompute {
  constructor(
    private readonly model: GptModel,
    private readonly optimizer: Optimizer,
    private readonly data: TrainingData,
    private readonly dpGroup: Collectives,
  ) {}

  async runStep(w: StepWork): Promise<RankStepResult> {
    const started = performance.now();
    await this.model.zeroGrad();
    let lossSum = 0;
    for (let m = 0; m < w.microBatches; m++) {
      const { inputs, targets } = this.data.trainBatch(w.firstSample + m * w.microBatch, w.microBatch);
      const { loss } = await this.model.forwardBackward(inputs, targets, w.microBatch, 1 / w.totalMicroBatches);
      lossSum += loss;
    }
    // measured before the all-reduce spreads it: which replica's own gradients went NaN/inf
    const nonFinite = !Number.isFinite(lossSum) || !allFinite(this.model.gradients());
    const reduceStarted = performance.now();
    if (this.dpGroup.size > 1) {
      // backward finishes gradients last-to-first; register them in that order
      const grads = this.model.gradients().map((g) => g.data).reverse();
      const buckets = new GradientBuckets(this.dpGroup, grads);
      for (let i = 0; i < grads.length; i++) buckets.markReady(i);
      await buckets.finish();
    }
    // busy = the step minus the all-reduce (where a fast replica waits for the slowest): everything before it
    const busyMs = reduceStarted - started;
    return { lossSum, gradNormSquared: await this.normSquared(), nonFinite, busyMs };
  }

  private async normSquared(): Promise<number> {
    const o = this.optimizer as Optimizer & NormSquared;
    if (o.gradNormSquared) return o.gradNormSquared();
    const n = await o.gradNorm();
    return n * n;
  }

  apply(lr: number, clipScale: number): Promise<void> {
    return this.optimizer.step(lr, clipScale);
  }

  validationLoss(batches: number, microBatch: number, step: number): Promise<number> {
    return validationLoss(this.model, this.data, batches, microBatch, step);
  }

  parameters(): NamedTensor[] {
    return this.model.parameters();
  }

  optimizerState(): NamedTensor[] {
    return this.optimizer.state();
  }

  get optimizerStepCount(): number {
    return this.optimizer.stepCount;
  }

  set optimizerStepCount(n: number) {
    this.optimizer.stepCount = n;
  }
}
