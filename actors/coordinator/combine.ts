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
  // each (p, t) shard is held once per replica; count the first live replica's copy (replica 0 unless it was dropped)
  const first = Math.min(...reports.map((r) => r.coords.dp));
  for (const r of reports) {
    lossSum += r.lossSum;
    if (r.coords.dp === first) normSquared += r.gradNormSquared;
  }
  const loss = lossSum / totalMicroBatches;
  if (!Number.isFinite(loss)) throw new NonFiniteLossError(step, "loss", loss);
  const gradNorm = Math.sqrt(normSquared);
  if (!Number.isFinite(gradNorm)) throw new NonFiniteLossError(step, "gradient norm", gradNorm);
  return { loss, gradNorm, clipScale: clipScaleFor(gradNorm, clip) };
}

/**
 * How one step's micro-batches split over `replicas` replicas: the replica at position j runs a contiguous block,
 * blocks in order, their sizes differing by at most one (an elastic job that shrank from 3 to 2 replicas runs 3 + 3
 * of 6, or 2 + 1 of 3). Every micro-batch's gradient is scaled by 1 / total, so the summed gradient is the mean over
 * the same samples for any replica count; only the grouping of the sum changes.
 */
export function splitMicroBatches(
  batchSize: number,
  microBatch: number,
  replicas: number,
  firstSample: number,
): { totalMicroBatches: number; blockOf: (position: number) => { firstSample: number; microBatches: number } } {
  if (batchSize % microBatch !== 0) throw new RangeError(`batch ${batchSize} is not a multiple of micro-batch ${microBatch}`);
  const total = batchSize / microBatch;
  if (total < replicas) {
    throw new RangeError(
      `a step of ${batchSize} sequences is ${total} micro-batches of ${microBatch}, fewer than the ${replicas} replicas`,
    );
  }
  const startOf = (j: number) => Math.floor((j * total) / replicas);
  return {
    totalMicroBatches: total,
    blockOf: (j) => ({ firstSample: firstSample + startOf(j) * microBatch, microBatches: startOf(j + 1) - startOf(j) }),
  };
}
