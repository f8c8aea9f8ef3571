// The inference context of incremental decoding (Megatron's attention takes one beside its input): for `batch`
// sequences, the keys and values of every earlier position in each layer a model holds (a pipeline stage: its
// layers only; a TP rank: its heads only), how many positions are cached, and the buffers of one decoding step.
// The single-rank decoder (decoder.ts) and a stage model's decode (ml/parallel-model) both run on it.
import { blockDecode, type BlockContext, type BlockTensors, type DecodeBuffers, type LayerCache } from "./block.ts";

export interface InferenceContextShape {
  batch: number;
  /** the model's window: positions a sequence may hold */
  maxLen: number;
  /** layers held */
  layers: number;
  dModel: number;
  /** widths of this rank's attention output and MLP hidden layer (dModel and 4·dModel on one rank) */
  attnWidth: number;
  mlpWidth: number;
}

export class InferenceContext {
  readonly batch: number;
  readonly maxLen: number;
  /** keys and values per layer held, [batch, maxLen, attnWidth] each */
  readonly layers: readonly LayerCache[];
  /** one step's buffers; `x` is the new position's residual stream [batch, d], `ln`, `mean`, `rstd` serve the head too */
  readonly step: DecodeBuffers;
  private readonly attnWidth: number;
  private pos = 0;

  constructor(s: InferenceContextShape, alloc: (n: number) => Float32Array) {
    const b = s.batch,
      d = s.dModel;
    this.batch = b;
    this.maxLen = s.maxLen;
    this.attnWidth = s.attnWidth;
    this.layers = Array.from({ length: s.layers }, () => ({ k: alloc(b * s.maxLen * s.attnWidth), v: alloc(b * s.maxLen * s.attnWidth) }));
    this.step = {
      x: alloc(b * d),
      mid: alloc(b * d),
      ln: alloc(b * d),
      mean: alloc(b),
      rstd: alloc(b),
      qkv: alloc(b * 3 * s.attnWidth),
      attn: alloc(b * s.attnWidth),
      fc: alloc(b * s.mlpWidth),
      gelu: alloc(b * s.mlpWidth),
    };
  }

  /** Positions cached (the same for every sequence). */
  get length(): number {
    return this.pos;
  }

  get full(): boolean {
    return this.pos >= this.maxLen;
  }

  /** Forgets every cached position. */
  reset(): void {
    this.pos = 0;
  }

  /**
   * Records every held layer's decode of the next position on step.x (in place), appending the layers' keys and
   * values, and counts the position. `c.shape` is [batch sequences, 1 position]; the caller runs the stream.
   */
  async decode(c: BlockContext, blocks: readonly BlockTensors[]): Promise<void> {
    if (this.full) throw new RangeError(`the inference context is full (${this.maxLen} positions)`);
    const pos = this.pos;
    for (let l = 0; l < this.layers.length; l++) await blockDecode(c, blocks[l]!, this.layers[l]!, this.step, pos, this.maxLen);
    this.pos++;
  }

  /**
   * Keeps layer `layer`'s keys and values of the first `n` positions of each sequence from a forward of whole
   * windows: `qkv` [batch, window, 3·attnWidth] as the block's forward left it.
   */
  keepPrefix(layer: number, qkv: Float32Array, window: number, n: number): void {
    const aw = this.attnWidth,
      { k, v } = this.layers[layer]!;
    for (let b = 0; b < this.batch; b++) {
      for (let p = 0; p < n; p++) {
        const row = (b * window + p) * 3 * aw,
          at = (b * this.maxLen + p) * aw;
        k.set(qkv.subarray(row + aw, row + 2 * aw), at);
        v.set(qkv.subarray(row + 2 * aw, row + 3 * aw), at);
      }
    }
  }

  /** After keepPrefix of every layer: the first `n` positions are cached. */
  prefilled(n: number): void {
    if (!Number.isInteger(n) || n < 1 || n > this.maxLen)
      throw new RangeError(`prefill of ${n} positions does not fit the window of ${this.maxLen}`);
    this.pos = n;
  }
}
