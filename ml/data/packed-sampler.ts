// Training samples packed across documents. The dataset's tokens are one stream (each document ends
// with end-of-text). Epoch e uses the windows of seqLen + 1 tokens starting at multiples of seqLen, in
// the order of a seeded permutation keyed by (seed, e). Global sample i is window
// perm(seed, floor(i / W))(i mod W), W = floor((tokens - 1) / seqLen): a pure function of (seed, i),
// so batch boundaries (and batch-size ramp-up) never change which tokens a sample holds.
import { DataOptionError } from "./errors.ts";
import type { Batch, IndexedDataset, SampleOptions, ValidationOptions } from "./types.ts";
import { WindowPermutation } from "./window-permutation.ts";

function checkPositiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new DataOptionError(`${name} must be a positive integer, got ${v}`);
}

/** Windows of seqLen + 1 tokens per epoch. Example: 1001 tokens, seqLen 100 → 10 windows. */
export function windowsPerEpoch(dataset: IndexedDataset, seqLen: number): number {
  checkPositiveInt("seqLen", seqLen);
  return Math.max(0, Math.floor((dataset.tokenCount - 1) / seqLen));
}

function copyWindow(dataset: IndexedDataset, seqLen: number, window: number, batch: Batch, row: number): void {
  const start = window * seqLen;
  const tokens = dataset.tokens;
  const base = row * seqLen;
  for (let t = 0; t < seqLen; t++) {
    batch.inputs[base + t] = tokens[start + t]!;
    batch.targets[base + t] = tokens[start + t + 1]!;
  }
}

/** Samples firstSample … firstSample + count - 1 of the run with this seed (epochs follow each other). */
export function sampleBatch(dataset: IndexedDataset, options: SampleOptions): Batch {
  const { seqLen, seed, firstSample, count } = options;
  checkPositiveInt("count", count);
  if (!Number.isInteger(firstSample) || firstSample < 0)
    throw new DataOptionError(`firstSample must be an integer ≥ 0, got ${firstSample}`);
  if (!Number.isInteger(seed)) throw new DataOptionError(`seed must be an integer, got ${seed}`);
  const windows = windowsPerEpoch(dataset, seqLen);
  if (windows === 0) {
    throw new DataOptionError(`${dataset.binPath} has ${dataset.tokenCount} tokens, too few for one sequence of ${seqLen} + 1`);
  }
  const batch: Batch = { inputs: new Int32Array(count * seqLen), targets: new Int32Array(count * seqLen), count, seqLen };
  let perm: WindowPermutation | null = null;
  let permEpoch = -1;
  for (let r = 0; r < count; r++) {
    const sample = firstSample + r;
    const epoch = Math.floor(sample / windows);
    if (epoch !== permEpoch) {
      perm = new WindowPermutation(windows, [seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0, epoch]);
      permEpoch = epoch;
    }
    copyWindow(dataset, seqLen, perm!.at(sample % windows), batch, r);
  }
  return batch;
}

/** Validation batches in stream order, the same every time: consecutive windows, the last batch possibly short. */
export function* validationBatches(dataset: IndexedDataset, options: ValidationOptions): Generator<Batch> {
  const { seqLen, batchSize, maxBatches = Infinity } = options;
  checkPositiveInt("batchSize", batchSize);
  const windows = windowsPerEpoch(dataset, seqLen);
  for (let first = 0, n = 0; first < windows && n < maxBatches; first += batchSize, n++) {
    const count = Math.min(batchSize, windows - first);
    const batch: Batch = { inputs: new Int32Array(count * seqLen), targets: new Int32Array(count * seqLen), count, seqLen };
    for (let r = 0; r < count; r++) copyWindow(dataset, seqLen, first + r, batch, r);
    yield batch;
  }
}
