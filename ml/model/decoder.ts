// Incremental decoding: one token per sequence per step, keys/values of earlier positions kept per layer.
import { KernelProgram } from "../../native/ops.ts";
import type { BlockTensors } from "./block.ts";
import type { Backend } from "../../native/backend.ts";
import type { ParameterStore } from "./parameter-store.ts";
import type { Decoder, GptConfig } from "./types.ts";

/** What a decoder needs of its model: shape, weights, backend and the model's one-call-at-a-time lock. */
export interface DecoderHost {
  readonly config: GptConfig;
  readonly backend: Backend;
  readonly store: ParameterStore;
  exclusive<T>(method: string, fn: () => Promise<T>): Promise<T>;
}

interface DecoderLayer {
  kCache: Float32Array; // [batch, seqLen, d]
  vCache: Float32Array;
}

export class GptDecoder implements Decoder {
  private pos = 0;
  private readonly layers: DecoderLayer[];
  private readonly x: Float32Array;
  private readonly mid: Float32Array;
  private readonly ln: Float32Array;
  private readonly mean: Float32Array;
  private readonly rstd: Float32Array;
  private readonly qkv: Float32Array;
  private readonly attn: Float32Array;
  private readonly fc: Float32Array;
  private readonly gelu: Float32Array;
  private readonly logits: Float32Array;

  constructor(private readonly model: DecoderHost, private readonly batch: number, private readonly blocks: BlockTensors[]) {
    const { seqLen, dModel: d, vocabSize, layers } = model.config;
    const alloc = (n: number) => model.backend.alloc(n);
    this.layers = Array.from({ length: layers }, () => ({ kCache: alloc(batch * seqLen * d), vCache: alloc(batch * seqLen * d) }));
    this.x = alloc(batch * d);
    this.mid = alloc(batch * d);
    this.ln = alloc(batch * d);
    this.mean = alloc(batch);
    this.rstd = alloc(batch);
    this.qkv = alloc(batch * 3 * d);
    this.attn = alloc(batch * d);
    this.fc = alloc(batch * 4 * d);
    this.gelu = alloc(batch * 4 * d);
    this.logits = alloc(batch * vocabSize);
  }

  get length(): number {
    return this.pos;
  }

  reset(): void {
    this.pos = 0;
  }

  step(tokens: Int32Array): Promise<Float32Array> {
    return this.model.exclusive("decoder.step", async () => {
      const { seqLen, dModel: d, vocabSize, heads } = this.model.config;
      if (!(tokens instanceof Int32Array) || tokens.length !== this.batch) {
        throw new RangeError(`decoder.step: 'tokens' must be an Int32Array of ${this.batch} tokens (one per sequence)`);
      }
      if (this.pos >= seqLen) throw new RangeError(`decoder.step: the cache is full (${seqLen} tokens = model.seqLen); reset() it`);
      const s = this.model.store, b = this.batch, pos = this.pos;
      const program = new KernelProgram();
      const k = program.add.bind(program);
      k("embeddingForward", {
        tokens, wte: s.param("wte"), wpe: s.param("wpe").subarray(pos * d, (pos + 1) * d), out: this.x,
        batch: b, seq: 1, dModel: d, vocabStart: 0, vocabSize, vocabTotal: vocabSize,
      });
      for (let l = 0; l < this.layers.length; l++) {
        const p = this.blocks[l]!, c = this.layers[l]!;
        k("layerNormForward", { x: this.x, gamma: p.ln1w.param, beta: p.ln1b.param, out: this.ln, mean: this.mean, rstd: this.rstd, rows: b, cols: d });
        k("linearForward", { x: this.ln, weight: p.qkvw.param, bias: p.qkvb.param, residual: null, out: this.qkv, rows: b, inFeatures: d, outFeatures: 3 * d });
        k("attentionDecode", { qkv: this.qkv, kCache: c.kCache, vCache: c.vCache, out: this.attn, batch: b, heads, headDim: d / heads, maxLen: seqLen, pos });
        k("linearForward", { x: this.attn, weight: p.projw.param, bias: p.projb.param, residual: this.x, out: this.mid, rows: b, inFeatures: d, outFeatures: d });
        k("layerNormForward", { x: this.mid, gamma: p.ln2w.param, beta: p.ln2b.param, out: this.ln, mean: this.mean, rstd: this.rstd, rows: b, cols: d });
        k("linearForward", { x: this.ln, weight: p.fcw.param, bias: p.fcb.param, residual: null, out: this.fc, rows: b, inFeatures: d, outFeatures: 4 * d });
        k("geluForward", { x: this.fc, out: this.gelu, n: b * 4 * d });
        k("linearForward", { x: this.gelu, weight: p.fc2w.param, bias: p.fc2b.param, residual: this.mid, out: this.x, rows: b, inFeatures: 4 * d, outFeatures: d });
      }
      k("layerNormForward", { x: this.x, gamma: s.param("lnf.weight"), beta: s.param("lnf.bias"), out: this.ln, mean: this.mean, rstd: this.rstd, rows: b, cols: d });
      k("linearForward", { x: this.ln, weight: s.param("wte"), bias: null, residual: null, out: this.logits, rows: b, inFeatures: d, outFeatures: vocabSize });
      await program.run(this.model.backend);
      this.pos++;
      return Float32Array.from(this.logits);
    });
  }
}
