// Autoregressive generation for one sequence, with the model's KV cache or without it.
// Both paths see exactly the same context window for every token, so with greedy sampling they must
// produce the same tokens (a test checks it). When the window overflows it slides by half its length:
// the cached path then rebuilds its cache from the kept half, which happens rarely.
import type { GptModel } from "../model/types.ts";
import { SeededRandom } from "./rng.ts";
import { chooseToken, validateSamplingOptions, type SamplingOptions } from "./sampling.ts";

export interface GenerateOptions {
  maxNewTokens: number;
  sampling: SamplingOptions;
  /** Seeds the sampler (unused by greedy). */
  seed?: number;
  /** Use the model's KV-cache decoder (default). false recomputes the whole window for each token. */
  useCache?: boolean;
  /** Stop after emitting one of these (e.g. the end-of-text token). */
  stopTokens?: readonly number[];
  /** Called with each new token as soon as it is chosen (streaming). */
  onToken?: (token: number) => void | Promise<void>;
}

export interface GenerateResult {
  /** The new tokens (the prompt excluded). */
  tokens: number[];
  stoppedBy: "length" | "stop-token";
}

/** First token of the window for the sequence all[0..end), given the previous window start. */
export function windowStart(previousStart: number, end: number, windowSize: number): number {
  if (end - previousStart <= windowSize) return previousStart;
  return end - Math.ceil(windowSize / 2);
}

/** The logits source of the no-cache path: every call recomputes the whole window from an empty cache. */
function recomputedLogits(model: GptModel) {
  const decoder = model.createDecoder(1); // reused only to avoid reallocating buffers; reset every call
  const token = new Int32Array(1);
  return async (all: readonly number[], windowFrom: number): Promise<Float32Array> => {
    decoder.reset();
    let logits: Float32Array | undefined;
    for (let i = windowFrom; i < all.length; i++) {
      token[0] = all[i];
      logits = await decoder.step(token);
    }
    return logits!;
  };
}

/** The logits source of the cached path: feeds only the tokens not yet in the cache. */
function cachedLogits(model: GptModel) {
  const decoder = model.createDecoder(1);
  const token = new Int32Array(1);
  let start = 0;
  let fed = 0;
  let logits: Float32Array | undefined;
  return async (all: readonly number[], windowFrom: number): Promise<Float32Array> => {
    if (windowFrom !== start) {
      decoder.reset();
      start = fed = windowFrom;
    }
    for (; fed < all.length; fed++) {
      token[0] = all[fed];
      logits = await decoder.step(token);
    }
    return logits!;
  };
}

export async function generate(model: GptModel, prompt: readonly number[], options: GenerateOptions): Promise<GenerateResult> {
  validateSamplingOptions(options.sampling);
  const { maxNewTokens } = options;
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) {
    throw new RangeError(`max new tokens must be a whole number >= 0, got ${maxNewTokens}`);
  }
  if (prompt.length === 0) throw new RangeError("the prompt has no tokens (start it with the end-of-text token)");
  const vocab = model.config.vocabSize;
  prompt.forEach((t, i) => {
    if (!Number.isInteger(t) || t < 0 || t >= vocab) throw new RangeError(`prompt token ${i} is ${t}, outside the vocabulary [0, ${vocab})`);
  });

  const windowSize = model.config.seqLen;
  const rng = new SeededRandom(options.seed ?? 0);
  const stop = new Set(options.stopTokens ?? []);
  const logitsOf = options.useCache === false ? recomputedLogits(model) : cachedLogits(model);

  const all = [...prompt];
  let start = Math.max(0, all.length - windowSize);
  const tokens: number[] = [];
  while (tokens.length < maxNewTokens) {
    start = windowStart(start, all.length, windowSize);
    const logits = await logitsOf(all, start);
    const next = chooseToken(logits, options.sampling, rng);
    all.push(next);
    tokens.push(next);
    await options.onToken?.(next);
    if (stop.has(next)) return { tokens, stoppedBy: "stop-token" };
  }
  return { tokens, stoppedBy: "length" };
}
