// Activation buffers on one (stage, TP rank): the residual stream is full width, everything between a
// column-parallel and a row-parallel layer holds only this rank's heads / MLP columns. A training micro-batch keeps
// every layer's activations for its backward; a forward-only pass of a batch size reuses one layer's buffers.
import type { LayerActivations } from "../model/activations.ts";
import type { BlockScratch, BlockShape } from "../model/block.ts";

export interface LocalShape extends BlockShape {
  /** vocabulary rows of this rank's wte shard */
  vocabRows: number;
  /** rows of the head's logits computed at once */
  headChunkRows: number;
}

/** Rows of logits the head computes at once: ≤ 256 rows and ≤ 1M logits, as the single-rank model. */
export function defaultHeadChunkRows(rows: number, vocabRows: number): number {
  return Math.max(1, Math.min(rows, Math.floor((1 << 20) / vocabRows), 256));
}

function layerActivations(s: LocalShape, input: Float32Array, alloc: (n: number) => Float32Array): LayerActivations {
  const n = s.batch * s.seq,
    d = s.dModel;
  return {
    input,
    ln1: alloc(n * d),
    mean1: alloc(n),
    rstd1: alloc(n),
    qkv: alloc(n * 3 * s.attnWidth),
    probs: alloc(s.batch * s.heads * s.seq * s.seq),
    attn: alloc(n * s.attnWidth),
    mid: alloc(n * d),
    ln2: alloc(n * d),
    mean2: alloc(n),
    rstd2: alloc(n),
    fc: alloc(n * s.mlpWidth),
  };
}

/** Every layer's activations of one training micro-batch, kept for its backward. */
export class StageActivations {
  readonly rows: number;
  readonly layers: LayerActivations[] = [];
  /** block output of the stage's last layer [N, d] */
  readonly output: Float32Array;
  /** last stage: d(loss)/d(final residual) computed by the head during the forward [N, d] */
  readonly dOutput: Float32Array;

  constructor(s: LocalShape, layers: number, alloc: (n: number) => Float32Array) {
    const n = s.batch * s.seq,
      d = s.dModel;
    this.rows = n;
    let input = alloc(n * d);
    for (let l = 0; l < layers; l++) {
      this.layers.push(layerActivations(s, input, alloc));
      input = alloc(n * d);
    }
    this.output = input;
    this.dOutput = alloc(n * d);
  }
}

/** The head's buffers of a forward-only pass (validation loss, scores). */
export interface HeadScratch {
  lnf: Float32Array; // [N, d]
  meanf: Float32Array;
  rstdf: Float32Array;
  logits: Float32Array; // [headChunkRows, vocabRows]
  /** rowMax | sumExp | targetLogit of one head chunk, [3·headChunkRows] */
  ceStats: Float32Array;
}

/** Buffers shared by every training micro-batch (used by one pass at a time), including the head's. */
export interface StageScratch extends BlockScratch, HeadScratch {
  dLogits: Float32Array; // [headChunkRows, vocabRows]
}

function headScratch(s: LocalShape, alloc: (n: number) => Float32Array): HeadScratch {
  const n = s.batch * s.seq;
  return {
    lnf: alloc(n * s.dModel),
    meanf: alloc(n),
    rstdf: alloc(n),
    logits: alloc(s.headChunkRows * s.vocabRows),
    ceStats: alloc(3 * s.headChunkRows),
  };
}

export function stageScratch(s: LocalShape, alloc: (n: number) => Float32Array): StageScratch {
  const n = s.batch * s.seq,
    d = s.dModel;
  return {
    gelu: alloc(n * s.mlpWidth),
    dResidual: alloc(n * d),
    dLnOut: alloc(n * d),
    dAttn: alloc(n * s.attnWidth),
    dQkv: alloc(n * 3 * s.attnWidth),
    dFc: alloc(n * s.mlpWidth),
    dLogits: alloc(s.headChunkRows * s.vocabRows),
    ...headScratch(s, alloc),
  };
}

/**
 * The buffers of forward-only passes of one batch size: one layer's activations, used by every layer in turn
 * with two residual streams taking turns as input and output (so no pass copies between layers), and the head's.
 */
export class ForwardBuffers {
  /** layer l reads layers[l % 2].input and writes layers[(l + 1) % 2].input */
  readonly layers: readonly [LayerActivations, LayerActivations];
  readonly scratch: HeadScratch & { gelu: Float32Array };

  constructor(
    readonly shape: LocalShape,
    alloc: (n: number) => Float32Array,
  ) {
    const n = shape.batch * shape.seq;
    const first = layerActivations(shape, alloc(n * shape.dModel), alloc);
    this.layers = [first, { ...first, input: alloc(n * shape.dModel) }];
    this.scratch = { gelu: alloc(n * shape.mlpWidth), ...headScratch(shape, alloc) };
  }

  /** The residual stream after `layers` layers. */
  output(layers: number): Float32Array {
    return this.layers[layers % 2]!.input;
  }
}
