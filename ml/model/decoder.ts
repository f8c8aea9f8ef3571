// Incremental decoding on the single-rank model: one token per sequence per step over an inference context (the
// KV cache a pipeline stage decodes with too); embedding, every layer and the head of a step run as one job.
import type { Backend } from "../../native/backend.ts";
import { ONE_RANK, type BlockContext, type BlockTensors } from "./block.ts";
import { InferenceContext } from "./inference-context.ts";
import { KernelStream } from "./kernel-stream.ts";
import type { ParameterStore } from "./parameter-store.ts";
import type { Decoder, GptConfig } from "./types.ts";

/** What a decoder needs of its model: shape, weights, backend and the model's one-call-at-a-time lock. */
export interface DecoderHost {
  readonly config: GptConfig;
  readonly backend: Backend;
  readonly store: ParameterStore;
  exclusive<T>(method: string, fn: () => Promise<T>): Promise<T>;
}

export class GptDecoder implements Decoder {
  private readonly context: InferenceContext;
  private readonly logits: Float32Array;

  constructor(
    private readonly model: DecoderHost,
    private readonly batch: number,
    private readonly blocks: readonly BlockTensors[],
  ) {
    const { seqLen, dModel: d, vocabSize, layers } = model.config;
    const alloc = (n: number) => model.backend.alloc(n);
    this.context = new InferenceContext({ batch, maxLen: seqLen, layers, dModel: d, attnWidth: d, mlpWidth: 4 * d }, alloc);
    this.logits = alloc(batch * vocabSize);
  }

  get length(): number {
    return this.context.length;
  }

  reset(): void {
    this.context.reset();
  }

  step(tokens: Int32Array): Promise<Float32Array> {
    return this.model.exclusive("decoder.step", async () => {
      const { seqLen, dModel: d, vocabSize, heads } = this.model.config;
      if (!(tokens instanceof Int32Array) || tokens.length !== this.batch) {
        throw new RangeError(`decoder.step: 'tokens' must be an Int32Array of ${this.batch} tokens (one per sequence)`);
      }
      if (this.context.full) throw new RangeError(`decoder.step: the cache is full (${seqLen} tokens = model.seqLen); reset() it`);
      const s = this.model.store,
        b = this.batch,
        pos = this.context.length,
        x = this.context.step;
      const stream = new KernelStream(this.model.backend);
      stream.add("embeddingForward", {
        tokens,
        wte: s.param("wte"),
        wpe: s.param("wpe").subarray(pos * d, (pos + 1) * d),
        out: x.x,
        batch: b,
        seq: 1,
        dModel: d,
        vocabStart: 0,
        vocabSize,
        vocabTotal: vocabSize,
      });
      const c: BlockContext = {
        stream,
        shape: { batch: b, seq: 1, dModel: d, heads, attnWidth: d, mlpWidth: 4 * d },
        addsReplicated: true,
        copy: ONE_RANK,
        reduce: ONE_RANK,
      };
      await this.context.decode(c, this.blocks);
      stream.add("layerNormForward", {
        x: x.x,
        gamma: s.param("lnf.weight"),
        beta: s.param("lnf.bias"),
        out: x.ln,
        mean: x.mean,
        rstd: x.rstd,
        rows: b,
        cols: d,
      });
      stream.add("linearForward", {
        x: x.ln,
        weight: s.param("wte"),
        bias: null,
        residual: null,
        out: this.logits,
        rows: b,
        inFeatures: d,
        outFeatures: vocabSize,
      });
      await stream.flush();
      return Float32Array.from(this.logits);
    });
  }
}
