// Combining the workers' ready(k) reports into the step's loss, gradient norm and clip factor.
// Pure, so the arithmetic that decides an optimizer step is tested without processes.
//
// Example, dp = 2, 4 micro-batches in the step (2 per replica):
//   reports: d0 { lossSum 6.2, gradNormSquared 0.81 }, d1 { lossSum 6.0, gradNormSquared 0.81 }
//   loss = (6.2 + 6.0) / 4 = 3.05; after the DP all-reduce both replicas hold the same full gradient,
//   so the norm counts replica 0 only: sqrt(0.81) = 0.9; clip 1.0 → clipScale 1.
import { NonFiniteLossError } from "../../ml/train/errors.ts";
import { clipScaleFor } from "../../ml/train/step.ts";

export interface WorkerReady {
  /** The worker's data-parallel replica. */
  coords: { dp: number };
  lossSum: number;
  gradNormSquared: number;
}

export interface CombinedStep {
  loss: number;
  gradNorm: number;
  clipScale: number;
  /** NaN/inf in some report: every rank drops the step's gradients (nonfinite.ts); loss and norm are NaN. */
  skipped?: boolean;
}

/** The combined result of a step every rank skips: nothing to average, no clip. */
export function skippedStep(): CombinedStep {
  return { loss: Number.NaN, gradNorm: Number.NaN, clipScale: 1, skipped: true };
}

/** Reports in worker order (fixed: the sums are bit-reproducible). Throws NonFiniteLossError on NaN/inf. */
export function combineReady(step: number, reports: readonly WorkerReady[], totalMicroBatches: number, clip: number): CombinedStep {
  if (reports.length === 0) throw new RangeError("no ready reports to combine");
  let lossSum = 0;
  let normSquared = 0;
  for (const r of reports) {
    lossSum += r.lossSum;
    // each (p, t) shard is held once per replica; count replica 0's copy
    if (r.coords.dp === 0) normSquared += r.gradNormSquared;
  }
  const loss = lossSum / totalMicroBatches;
  if (!Number.isFinite(loss)) throw new NonFiniteLossError(step, "loss", loss);
  const gradNorm = Math.sqrt(normSquared);
  if (!Number.isFinite(gradNorm)) throw new NonFiniteLossError(step, "gradient norm", gradNorm);
  return { loss, gradNorm, clipScale: clipScaleFor(gradNorm, clip) };
}

/** How one step's micro-batches split over dp replicas: replica d runs a contiguous block. */
export function splitMicroBatches(
  batchSize: number,
  microBatch: number,
  dp: number,
  firstSample: number,
): { totalMicroBatches: number; perReplica: number; firstSampleOf: (d: number) => number } {
  if (batchSize % microBatch !== 0) throw new RangeError(`batch ${batchSize} is not a multiple of micro-batch ${microBatch}`);
  const total = batchSize / microBatch;
  if (total % dp !== 0) {
    throw new RangeError(
      `a step of ${batchSize} sequences is ${total} micro-batches of ${microBatch}, which does not split over dp ${dp} replicas`,
    );
  }
  const perReplica = total / dp;
  return { totalMicroBatches: total, perReplica, firstSampleOf: (d) => firstSample + d * perReplica * microBatch };
}
