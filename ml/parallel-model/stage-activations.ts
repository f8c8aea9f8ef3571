// Activation buffers of one micro-batch on one (stage, TP rank): the residual stream is full width, everything
// between a column-parallel and a row-parallel layer holds only this rank's heads / MLP columns.
import type { LayerActivations } from "../model/activations.ts";
import type { BlockScratch } from "../model/block.ts";

export interface LocalShape {
  batch: number;
  seq: number;
  dModel: number;
  /** heads on this TP rank */
  heads: number;
  /** width of this rank's attention output (heads × headDim) */
  attnWidth: number;
  /** width of this rank's MLP hidden layer */
  mlpWidth: number;
  /** vocabulary rows of this rank's wte shard */
  vocabRows: number;
  /** rows of the head's logits computed at once */
  headChunkRows: number;
}

export class StageActivations {
  readonly rows: number;
  readonly layers: LayerActivations[] = [];
  /** block output of the stage's last layer [N, d] */
  readonly output: Float32Array;
  /** last stage: d(loss)/d(final residual) computed by the head during the forward [N, d] */
  readonly dOutput: Float32Array;

  constructor(s: LocalShape, layers: number, alloc: (n: number) => Float32Array) {
    const n = s.batch * s.seq, d = s.dModel;
    this.rows = n;
    let input = alloc(n * d);
    for (let l = 0; l < layers; l++) {
      this.layers.push({
        input,
        ln1: alloc(n * d), mean1: alloc(n), rstd1: alloc(n),
        qkv: alloc(n * 3 * s.attnWidth),
        probs: alloc(s.batch * s.heads * s.seq * s.seq),
        attn: alloc(n * s.attnWidth),
        mid: alloc(n * d),
        ln2: alloc(n * d), mean2: alloc(n), rstd2: alloc(n),
        fc: alloc(n * s.mlpWidth),
      });
      input = alloc(n * d);
    }
    this.output = input;
    this.dOutput = alloc(n * d);
  }
}

/** Buffers shared by every micro-batch (used by one pass at a time), including the head's. */
export interface StageScratch extends BlockScratch {
  lnf: Float32Array; // [N, d]
  meanf: Float32Array;
  rstdf: Float32Array;
  logits: Float32Array; // [headChunkRows, vocabRows]
  dLogits: Float32Array; // [headChunkRows, vocabRows]
  /** rowMax | sumExp | targetLogit of one head chunk, [3·headChunkRows] */
  ceStats: Float32Array;
}

export function stageScratch(s: LocalShape, alloc: (n: number) => Float32Array): StageScratch {
  const n = s.batch * s.seq, d = s.dModel;
  return {
    gelu: alloc(n * s.mlpWidth), dResidual: alloc(n * d), dLnOut: alloc(n * d), dAttn: alloc(n * s.attnWidth),
    dQkv: alloc(n * 3 * s.attnWidth), dFc: alloc(n * s.mlpWidth),
    lnf: alloc(n * d), meanf: alloc(n), rstdf: alloc(n),
    logits: alloc(s.headChunkRows * s.vocabRows), dLogits: alloc(s.headChunkRows * s.vocabRows), ceStats: alloc(3 * s.headChunkRows),
  };
}
