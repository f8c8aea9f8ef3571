// Autoregressive generation for one sequence, with the model's KV cache or without it, on one process or
// through any other source of next tokens (the workers of a parallel inference job, actors/inference).
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

/**
 * Where next tokens come from: something holding a KV cache of one sequence and a sampler. `next` appends
 * `tokens` to the cache (emptied first when `restart`) and returns the token chosen after the last of them.
 */
export interface NextTokenSource {
  next(tokens: readonly number[], restart: boolean): Promise<number>;
}

/** The model shape generation needs: the window and the vocabulary. */
export interface GenerationShape {
  seqLen: number;
  vocabSize: number;
}

/** First token of the window for the sequence all[0..end), given the previous window start. */
export function windowStart(previousStart: number, end: number, windowSize: number): number {
  if (end - previousStart <= windowSize) return previousStart;
  return end - Math.ceil(windowSize / 2);
}

/** Next tokens from a single-process model's KV-cache decoder and the sampler in this process. */
function localTokenSource(model: GptModel, sampling: SamplingOptions, seed = 0): NextTokenSource {
  const decoder = model.createDecoder(1);
  const token = new Int32Array(1);
  const rng = new SeededRandom(seed);
  return {
    async next(tokens, restart) {
      if (restart) decoder.reset();
      let logits: Float32Array | undefined;
      for (const t of tokens) {
        token[0] = t;
        logits = await decoder.step(token);
      }
      return chooseToken(logits!, sampling, rng);
    },
  };
}

/** Throws a clear error for a prompt or length generation cannot start from. */
export function validateGenerateInput(shape: GenerationShape, prompt: readonly number[], maxNewTokens: number): void {
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) {
    throw new RangeError(`max new tokens must be a whole number >= 0, got ${maxNewTokens}`);
  }
  if (prompt.length === 0) throw new RangeError("the prompt has no tokens (start it with the end-of-text token)");
  prompt.forEach((t, i) => {
    if (!Number.isInteger(t) || t < 0 || t >= shape.vocabSize)
      throw new RangeError(`prompt token ${i} is ${t}, outside the vocabulary [0, ${shape.vocabSize})`);
  });
}

/**
 * The decoding loop over any token source. With `recompute` every token restarts the cache from the window
 * start (the no-cache check); otherwise only tokens not yet fed are sent.
 */
export async function generateWith(
  source: NextTokenSource,
  shape: GenerationShape,
  prompt: readonly number[],
  options: Omit<GenerateOptions, "sampling" | "seed" | "useCache"> & { recompute?: boolean },
): Promise<GenerateResult> {
  validateGenerateInput(shape, prompt, options.maxNewTokens);
  const windowSize = shape.seqLen;
  const stop = new Set(options.stopTokens ?? []);
  const all = [...prompt];
  let start = Math.max(0, all.length - windowSize);
  let fed = -1; // nothing in the cache yet
  const tokens: number[] = [];
  while (tokens.length < options.maxNewTokens) {
    const from = windowStart(start, all.length, windowSize);
    const restart = fed < 0 || from !== start || options.recompute === true;
    if (restart) fed = from;
    start = from;
    const next = await source.next(all.slice(fed), restart);
    fed = all.length;
    all.push(next);
    tokens.push(next);
    await options.onToken?.(next);
    if (stop.has(next)) return { tokens, stoppedBy: "stop-token" };
  }
  return { tokens, stoppedBy: "length" };
}

export async function generate(model: GptModel, prompt: readonly number[], options: GenerateOptions): Promise<GenerateResult> {
  validateSamplingOptions(options.sampling);
  const source = localTokenSource(model, options.sampling, options.seed ?? 0);
  return generateWith(source, model.config, prompt, { ...options, recompute: options.useCache === false });
}
