// Contract between the compute layer (native kernels, GPT model, optimizer) and the trainer.
// Interfaces only; implementations live in named files beside this one.

/** Shape of a GPT-2 style model (learned positions, pre-LN, GELU-tanh, biases, tied embeddings). */
export interface GptConfig {
  vocabSize: number;
  seqLen: number; // context length (number of learned positions)
  layers: number;
  dModel: number;
  heads: number;
}

/** One named parameter tensor (row-major fp32). `data` lives in native memory; never copy it. */
export interface NamedTensor {
  name: string; // e.g. "wte", "h.0.attn.qkv.weight"
  shape: number[];
  data: Float32Array;
}

export interface StepResult {
  /** Mean cross-entropy over the micro-batch's tokens. */
  loss: number;
}

/** A single-rank GPT: parameters, gradients, forward/backward. All methods run math off the JS thread. */
export interface GptModel {
  readonly config: GptConfig;
  /** Parameters in a fixed order (the same order as `gradients()`). */
  parameters(): NamedTensor[];
  gradients(): NamedTensor[];
  /** Set every gradient to zero (start of a step). */
  zeroGrad(): Promise<void>;
  /**
   * Forward + backward on one micro-batch of `batch` sequences of `seqLen` tokens;
   * adds d(loss)/d(param) * gradScale into the gradients (gradScale = 1/microbatches for accumulation).
   */
  forwardBackward(inputs: Int32Array, targets: Int32Array, batch: number, gradScale: number): Promise<StepResult>;
  /** Forward only: mean loss (validation). */
  evaluate(inputs: Int32Array, targets: Int32Array, batch: number): Promise<number>;
  /** Forward only: log-probability of each target token, [batch * seqLen] (evaluation by log-likelihood). */
  tokenLogProbs(inputs: Int32Array, targets: Int32Array, batch: number): Promise<Float32Array>;
  /** An incremental decoder with a KV cache for `batch` sequences (generation). */
  createDecoder(batch: number): Decoder;
}

/** Incremental decoding with a key/value cache: feed one token per sequence, get next-token logits. */
export interface Decoder {
  /** Tokens already in the cache (same for every sequence). At most config.seqLen. */
  readonly length: number;
  /** Append one token per sequence ([batch]); returns logits for the next token, [batch, vocab]. */
  step(tokens: Int32Array): Promise<Float32Array>;
  /** Forget the cache. */
  reset(): void;
}

export interface AdamWConfig {
  beta1: number; // 0.9
  beta2: number; // 0.95
  eps: number; // 1e-8
  weightDecay: number; // 0.1 (not applied to biases, LayerNorm gains, or — by choice — embeddings? see implementation)
}

export interface Optimizer {
  /** Global L2 norm of all gradients (before clipping). */
  gradNorm(): Promise<number>;
  /** One AdamW update with learning rate `lr`; gradients are multiplied by `gradScale` first (clipping). */
  step(lr: number, gradScale: number): Promise<void>;
  /** Optimizer state tensors (moments) for checkpoints, named "<param>.exp_avg" / "<param>.exp_avg_sq". */
  state(): NamedTensor[];
  /** Number of updates applied so far (Adam bias correction). */
  stepCount: number;
}
