// Activation and scratch buffers for one micro-batch size, allocated once and reused by every step.
// Saved per layer for the backward: LN outputs, qkv, attention probabilities, attention output, mid residual,
// MLP pre-activation. The GELU output is recomputed in the backward into one shared buffer (saves 4·N·d per layer).
import type { GptConfig } from "./types.ts";

export interface LayerActivations {
  input: Float32Array; // residual stream entering the block [N, d]
  ln1: Float32Array;
  mean1: Float32Array;
  rstd1: Float32Array;
  qkv: Float32Array; // [N, 3d]
  probs: Float32Array; // [batch, heads, T, T]
  attn: Float32Array; // [N, d]
  mid: Float32Array; // residual after attention [N, d]
  ln2: Float32Array;
  mean2: Float32Array;
  rstd2: Float32Array;
  fc: Float32Array; // MLP pre-activation [N, 4d]
}

export class Activations {
  readonly rows: number;
  readonly layers: LayerActivations[] = [];
  readonly output: Float32Array; // residual stream after the last block [N, d]
  readonly lnf: Float32Array;
  readonly meanf: Float32Array;
  readonly rstdf: Float32Array;
  readonly gelu: Float32Array; // shared [N, 4d]
  readonly logits: Float32Array; // [headChunk, vocab]
  readonly losses: Float32Array; // [N]
  // backward scratch
  readonly dResidual: Float32Array;
  readonly dLnOut: Float32Array;
  readonly dAttn: Float32Array;
  readonly dQkv: Float32Array;
  readonly dFc: Float32Array;
  readonly headChunk: number;

  /**
   * `logitsBudget`: floats for one chunk of head logits. Without it, chunks stay small enough for a CPU's cache;
   * a GPU wants few large chunks (each chunk's head GEMMs re-read the whole [vocab, d] embedding).
   */
  constructor(
    config: GptConfig,
    readonly batch: number,
    alloc: (n: number) => Float32Array,
    logitsBudget?: number,
  ) {
    const n = batch * config.seqLen;
    const d = config.dModel;
    this.rows = n;
    const residual = () => alloc(n * d);
    let input = residual();
    for (let l = 0; l < config.layers; l++) {
      const mid = residual();
      this.layers.push({
        input,
        ln1: residual(),
        mean1: alloc(n),
        rstd1: alloc(n),
        qkv: alloc(n * 3 * d),
        probs: alloc(batch * config.heads * config.seqLen * config.seqLen),
        attn: residual(),
        mid,
        ln2: residual(),
        mean2: alloc(n),
        rstd2: alloc(n),
        fc: alloc(n * 4 * d),
      });
      input = residual();
    }
    this.output = input;
    this.lnf = residual();
    this.meanf = alloc(n);
    this.rstdf = alloc(n);
    this.gelu = alloc(n * 4 * d);
    // The head runs in row chunks so the [rows, vocab] logits stay small (and mostly in cache).
    this.headChunk =
      logitsBudget === undefined
        ? Math.max(1, Math.min(n, Math.floor((1 << 20) / config.vocabSize) || 1, 256))
        : Math.max(1, Math.min(n, Math.floor(logitsBudget / config.vocabSize)));
    this.logits = alloc(this.headChunk * config.vocabSize);
    this.losses = alloc(n);
    this.dResidual = residual();
    this.dLnOut = residual();
    this.dAttn = residual();
    this.dQkv = alloc(n * 3 * d);
    this.dFc = alloc(n * 4 * d);
  }
}
