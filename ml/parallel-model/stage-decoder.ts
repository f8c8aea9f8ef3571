// Incremental decoding of one sequence through the pipeline: every (stage, TP rank) holds an inference context
// (KV cache) of its stage model's layers and its heads; a step feeds one token through the stages (embedding on the
// first, activations over the PP group by the one forward-only pipeline); the last stage returns the whole
// next-token logits when asked (gathered over TP). A prefill fills an empty cache with many tokens in one forward
// of the whole window (the keys and values of every layer kept), instead of one pipeline pass per token.
import type { InferenceContext } from "../model/inference-context.ts";
import { InferenceError } from "./errors.ts";
import { forwardThroughPipeline } from "./forward-pipeline.ts";
import type { InferenceStage } from "./inference-stage.ts";

const DECODE_TAG = "decode";
const PREFILL_TAG = "prefill";

export class StageDecoder {
  private readonly context: InferenceContext;
  private readonly token = new Int32Array(1);

  constructor(private readonly s: InferenceStage) {
    this.context = s.model.newInferenceContext(1);
  }

  /** Tokens in the cache. */
  get length(): number {
    return this.context.length;
  }

  reset(): void {
    this.context.reset();
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
    const { seqLen } = this.s.config;
    const n = tokens.length;
    if (this.context.length !== 0)
      throw new InferenceError(`prefill: the cache already holds ${this.context.length} tokens; reset it first`);
    if (n < 1 || n > seqLen) throw new InferenceError(`prefill: ${n} tokens do not fit the window of ${seqLen}`);
    const inputs = new Int32Array(seqLen); // padded on the right: causal attention keeps padding out of the first n
    inputs.set(tokens);
    this.s.checkVocabulary("inputs", inputs);
    const out = await forwardThroughPipeline([this.s.model], this.s.pp, PREFILL_TAG, (m, activation) =>
      m.prefill(this.context, n, { tokens: inputs, activation }),
    );
    return out?.logits ?? null;
  }

  /**
   * Appends `token` (read on the first stage only) at the next position. On the last stage with `wantLogits`
   * returns the next-token logits [vocab]; otherwise null. Every rank of the job must call it together.
   */
  async step(token: number, wantLogits: boolean): Promise<Float32Array | null> {
    const { seqLen } = this.s.config;
    if (this.context.full) throw new InferenceError(`decode: the cache is full (${seqLen} tokens = the model's window); reset it`);
    this.token[0] = token;
    const out = await forwardThroughPipeline([this.s.model], this.s.pp, DECODE_TAG, (m, activation) =>
      m.decode(this.context, { tokens: m.isFirst ? this.token : undefined, activation }, wantLogits),
    );
    return out?.logits ?? null;
  }
}
