// Next-token choice as pure functions over one row of logits: greedy, temperature, top-k, top-p.
// Order as in Hugging Face generate: temperature scales the logits, top-k keeps the k most likely,
// top-p keeps the smallest most-likely set whose mass reaches p, then the survivors are renormalised.
import type { SeededRandom } from "./rng.ts";

export interface SamplingOptions {
  /** 0 means greedy (argmax); otherwise logits are divided by it before the softmax. */
  temperature: number;
  /** Keep only the k most likely tokens (0 or undefined: no limit). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1 or undefined: no limit). */
  topP?: number;
}

/** Throws a clear error for options that cannot describe a distribution. */
export function validateSamplingOptions(options: SamplingOptions): void {
  const { temperature, topK, topP } = options;
  if (!Number.isFinite(temperature) || temperature < 0) {
    throw new RangeError(`temperature must be a finite number >= 0 (0 = greedy), got ${temperature}`);
  }
  if (topK !== undefined && (!Number.isInteger(topK) || topK < 0)) {
    throw new RangeError(`top-k must be a whole number >= 0 (0 = no limit), got ${topK}`);
  }
  if (topP !== undefined && (!Number.isFinite(topP) || topP <= 0 || topP > 1)) {
    throw new RangeError(`top-p must be in (0, 1], got ${topP}`);
  }
}

/** Index of the largest logit (the first one on ties). */
export function argmax(logits: ArrayLike<number>): number {
  if (logits.length === 0) throw new RangeError("argmax of an empty logits row");
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/** softmax(logits / temperature) in float64. */
export function softmax(logits: ArrayLike<number>, temperature = 1): Float64Array {
  const n = logits.length;
  const out = new Float64Array(n);
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const e = Math.exp((logits[i] - max) / temperature);
    out[i] = e;
    sum += e;
  }
  for (let i = 0; i < n; i++) out[i] /= sum;
  return out;
}

/** Token indices ordered by descending probability (ties by ascending index, so results are stable). */
function rankByProbability(probs: Float64Array): number[] {
  const order = Array.from({ length: probs.length }, (_, i) => i);
  order.sort((a, b) => probs[b] - probs[a] || a - b);
  return order;
}

/** Zero all but the k most likely entries and renormalise (in place; returns probs). */
function keepTopK(probs: Float64Array, k: number): Float64Array {
  if (k <= 0 || k >= probs.length) return probs;
  const order = rankByProbability(probs);
  for (let r = k; r < order.length; r++) probs[order[r]] = 0;
  return renormalise(probs);
}

/** Zero all but the smallest most-likely set whose mass reaches p and renormalise (in place). */
function keepTopP(probs: Float64Array, p: number): Float64Array {
  if (p >= 1) return probs;
  const order = rankByProbability(probs);
  let mass = 0;
  let r = 0;
  while (r < order.length && mass < p) mass += probs[order[r++]];
  for (; r < order.length; r++) probs[order[r]] = 0;
  return renormalise(probs);
}

function renormalise(probs: Float64Array): Float64Array {
  let sum = 0;
  for (let i = 0; i < probs.length; i++) sum += probs[i];
  for (let i = 0; i < probs.length; i++) probs[i] /= sum;
  return probs;
}

/** The distribution the next token is drawn from (greedy: all mass on the argmax). */
export function samplingDistribution(logits: ArrayLike<number>, options: SamplingOptions): Float64Array {
  validateSamplingOptions(options);
  if (options.temperature === 0) {
    const one = new Float64Array(logits.length);
    one[argmax(logits)] = 1;
    return one;
  }
  const probs = softmax(logits, options.temperature);
  if (options.topK) keepTopK(probs, options.topK);
  if (options.topP !== undefined) keepTopP(probs, options.topP);
  return probs;
}

/** Draw an index from a distribution by inverse CDF with one uniform number. */
function drawFrom(probs: Float64Array, rng: SeededRandom): number {
  const u = rng.next();
  let cumulative = 0;
  let last = 0;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i] === 0) continue;
    cumulative += probs[i];
    last = i;
    if (u < cumulative) return i;
  }
  return last; // rounding left u just above the final cumulative sum
}

/** Choose the next token from one row of logits. Greedy needs no random numbers. */
export function chooseToken(logits: ArrayLike<number>, options: SamplingOptions, rng: SeededRandom): number {
  if (options.temperature === 0) {
    validateSamplingOptions(options);
    return argmax(logits);
  }
  return drawFrom(samplingDistribution(logits, options), rng);
}
