// Incremental decoding of one sequence on one (stage, TP rank), with a KV cache split like the model: this
// stage's layers only, and of each layer only this TP rank's heads ([seqLen, heads/tp · headDim] per layer).
// A step feeds one token through the pipeline (embedding on the first stage, activations over the PP group);
// the last stage returns the whole next-token logits when asked (gathered over TP, one row). A prefill fills
// an empty cache with many tokens in one forward of the whole window (the keys and values of every layer
// kept), instead of one pipeline pass per token.
//   per layer: ln1 → qkv (my heads) → attention over my cached heads → proj (partial; rank 0 adds bias and
//   residual) → all-reduce → ln2 → fc (my columns) → gelu → fc2 (partial) → all-reduce
import { KernelProgram } from "../../native/ops.ts";
import { InferenceError } from "./errors.ts";
import type { InferenceStage } from "./inference-stage.ts";
import { gatherLogits } from "./vocab-head.ts";

const DECODE_TAG = "decode";
const PREFILL_TAG = "prefill";

export class StageDecoder {
  private pos = 0;
  private readonly kCache: Float32Array[];
  private readonly vCache: Float32Array[];
  private readonly x: Float32Array;
  private readonly mid: Float32Array;
  private readonly ln: Float32Array;
  private readonly mean: Float32Array;
  private readonly rstd: Float32Array;
  private readonly qkv: Float32Array;
  private readonly attn: Float32Array;
  private readonly fc: Float32Array;
  private readonly gelu: Float32Array;
  private readonly token = new Int32Array(1);

  constructor(private readonly s: InferenceStage) {
    const alloc = (n: number) => s.backend.alloc(n);
    const { seqLen, dModel: d } = s.config;
    this.kCache = Array.from({ length: s.layerCount }, () => alloc(seqLen * s.attnWidth));
    this.vCache = Array.from({ length: s.layerCount }, () => alloc(seqLen * s.attnWidth));
    this.x = alloc(d);
    this.mid = alloc(d);
    this.ln = alloc(d);
    this.mean = alloc(1);
    this.rstd = alloc(1);
    this.qkv = alloc(3 * s.attnWidth);
    this.attn = alloc(s.attnWidth);
    this.fc = alloc(s.mlpWidth);
    this.gelu = alloc(s.mlpWidth);
  }

  /** Tokens in the cache. */
  get length(): number {
    return this.pos;
  }

  reset(): void {
    this.pos = 0;
  }

  /**
   * Appends `tokens` (the cache emptied first when `restart`) and returns the logits after the last of them on
   * the last stage (null elsewhere). A restart with several tokens is one prefill pass.
   */
  async feed(tokens: readonly number[], restart: boolean): Promise<Float32Array | null> {
    if (tokens.length === 0) throw new InferenceError("decode: no tokens to feed");
    if (restart) this.reset();
    if (restart && tokens.length > 1) return this.prefill(tokens);
    let logits: Float32Array | null = null;
    for (const [i, token] of tokens.entries()) logits = await this.step(token, i === tokens.length - 1);
    return logits;
  }

  /** Fills the empty cache with `tokens` in one forward; the last stage returns the logits after the last one. */
  async prefill(tokens: readonly number[]): Promise<Float32Array | null> {
    const s = this.s;
    const { seqLen, dModel: d } = s.config;
    const n = tokens.length, aw = s.attnWidth;
    if (this.pos !== 0) throw new InferenceError(`prefill: the cache already holds ${this.pos} tokens; reset it first`);
    if (n < 1 || n > seqLen) throw new InferenceError(`prefill: ${n} tokens do not fit the window of ${seqLen}`);
    const inputs = new Int32Array(seqLen); // padded on the right: causal attention keeps padding out of the first n
    inputs.set(tokens);
    const run = await s.forwardSequences(inputs, 1, PREFILL_TAG, (l, qkv) => {
      for (let p = 0; p < n; p++) {
        this.kCache[l]!.set(qkv.subarray(p * 3 * aw + aw, p * 3 * aw + 2 * aw), p * aw);
        this.vCache[l]!.set(qkv.subarray(p * 3 * aw + 2 * aw, p * 3 * aw + 3 * aw), p * aw);
      }
    });
    this.pos = n;
    if (!run) return null;
    await s.finalNorm(run.x.subarray((n - 1) * d, n * d), 1, this.ln, this.mean, this.rstd);
    return gatherLogits(s.vocabShard(), this.ln, 1);
  }

  /**
   * Appends `token` (read on the first stage only) at the next position. On the last stage with `wantLogits`
   * returns the next-token logits [vocab]; otherwise null. Every rank of the job must call it together.
   */
  async step(token: number, wantLogits: boolean): Promise<Float32Array | null> {
    const s = this.s;
    const { seqLen, dModel: d } = s.config;
    if (this.pos >= seqLen) throw new InferenceError(`decode: the cache is full (${seqLen} tokens = the model's window); reset it`);
    if (s.isFirst) {
      this.token[0] = token;
      await s.embed(this.token, 1, 1, this.pos, this.x);
    } else {
      const received = await s.groups.pp.recv(s.stage - 1, DECODE_TAG);
      if (received.length !== d) throw new InferenceError(`decode: stage ${s.stage} received ${received.length} floats, expected ${d}`);
      this.x.set(received);
    }
    for (let l = 0; l < s.layerCount; l++) await this.layer(l);
    this.pos++;
    if (!s.isLast) {
      await s.groups.pp.send(this.x, s.stage + 1, DECODE_TAG);
      return null;
    }
    if (!wantLogits) return null;
    await s.finalNorm(this.x, 1, this.ln, this.mean, this.rstd);
    return gatherLogits(s.vocabShard(), this.ln, 1);
  }

  private async layer(l: number): Promise<void> {
    const s = this.s, w = s.blocks[l]!, d = s.config.dModel, aw = s.attnWidth, mw = s.mlpWidth, rank0 = s.tpRank === 0;
    let p = new KernelProgram();
    p.add("layerNormForward", { x: this.x, gamma: w.ln1w.param, beta: w.ln1b.param, out: this.ln, mean: this.mean, rstd: this.rstd, rows: 1, cols: d });
    p.add("linearForward", { x: this.ln, weight: w.qkvw.param, bias: w.qkvb.param, residual: null, out: this.qkv, rows: 1, inFeatures: d, outFeatures: 3 * aw });
    p.add("attentionDecode", {
      qkv: this.qkv, kCache: this.kCache[l]!, vCache: this.vCache[l]!, out: this.attn, batch: 1, heads: s.localHeads, headDim: aw / s.localHeads,
      maxLen: s.config.seqLen, pos: this.pos,
    });
    p.add("linearForward", { x: this.attn, weight: w.projw.param, bias: rank0 ? w.projb.param : null, residual: rank0 ? this.x : null, out: this.mid, rows: 1, inFeatures: aw, outFeatures: d });
    await p.run(s.backend);
    if (s.tpSize > 1) await s.groups.tp.allReduce(this.mid, "sum");
    p = new KernelProgram();
    p.add("layerNormForward", { x: this.mid, gamma: w.ln2w.param, beta: w.ln2b.param, out: this.ln, mean: this.mean, rstd: this.rstd, rows: 1, cols: d });
    p.add("linearForward", { x: this.ln, weight: w.fcw.param, bias: w.fcb.param, residual: null, out: this.fc, rows: 1, inFeatures: d, outFeatures: mw });
    p.add("geluForward", { x: this.fc, out: this.gelu, n: mw });
    p.add("linearForward", { x: this.gelu, weight: w.fc2w.param, bias: rank0 ? w.fc2b.param : null, residual: rank0 ? this.mid : null, out: this.x, rows: 1, inFeatures: mw, outFeatures: d });
    await p.run(s.backend);
    if (s.tpSize > 1) await s.groups.tp.allReduce(this.x, "sum");
  }
}
