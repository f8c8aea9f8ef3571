// The loss a model that ignores context would get: cross-entropy of the validation tokens under the
// training tokens' unigram distribution, add-one smoothed so unseen tokens have finite cost.
import type { UnigramEntropy } from "./types.ts";

export function unigramCrossEntropy(train: ArrayLike<number>, valid: ArrayLike<number>, vocabSize: number): UnigramEntropy {
  const counts = new Float64Array(vocabSize);
  for (let i = 0; i < train.length; i++) counts[train[i]!]!++;
  const denominator = train.length + vocabSize;
  let nats = 0;
  for (let i = 0; i < valid.length; i++) nats -= Math.log((counts[valid[i]!]! + 1) / denominator);
  nats = valid.length > 0 ? nats / valid.length : NaN;
  return { nats, bits: nats / Math.LN2 };
}
