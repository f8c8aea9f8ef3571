// Public API of generation: sampling strategies as pure functions over logits, and the decoding loop.
//
//   await generate(model, promptTokens, { maxNewTokens: 50, sampling: { temperature: 0.8, topP: 0.95 }, seed: 1, onToken })
//   chooseToken(logits, { temperature: 0 }, rng)      greedy / temperature / top-k / top-p
export { SeededRandom, deriveSeed } from "./rng.ts";
export {
  GREEDY,
  argmax,
  chooseToken,
  drawFrom,
  keepTopK,
  keepTopP,
  samplingDistribution,
  softmax,
  validateSamplingOptions,
  type SamplingOptions,
} from "./sampling.ts";
export {
  generate, generateWith, localTokenSource, validateGenerateInput, windowStart,
  type GenerateOptions, type GenerateResult, type GenerationShape, type NextTokenSource,
} from "./generate.ts";
export { TextStream } from "./text-stream.ts";
