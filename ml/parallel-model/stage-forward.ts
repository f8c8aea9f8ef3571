// The forward-only passes of a stage, which keep nothing for a backward and touch no gradient: a batch of whole
// windows (validation loss or per-token scores on the last stage), a prefill (whole windows whose keys and values
// an inference context keeps) and a KV-cache decoding step (one new position per sequence). Each stage's part
// only; forward-pipeline.ts moves the activations between stages.
import { blockForward } from "../model/block.ts";
import type { InferenceContext } from "../model/inference-context.ts";
import { ParallelModelError } from "./errors.ts";
import { ForwardBuffers } from "./stage-activations.ts";
import type { StagePass, StageWeights } from "./stage-weights.ts";
import { gatherLogits, scoreTargets, type TokenScores } from "./vocab-head.ts";
import { embeddingForward, finalNorm, headLoss } from "./vocab-parallel.ts";

/** What a stage's part of a forward-only pass reads: tokens (first stage) or the previous stage's output. */
export interface ForwardInput {
  /** sequences (default: the training micro-batch) */
  batch?: number;
  tokens?: Int32Array;
  activation?: Float32Array;
  /** next-token targets (read by the last stage's head) */
  targets?: Int32Array;
}

/** What the last stage makes of the final residual stream: the mean loss (validation) or per-token scores. */
export type ForwardHead = "loss" | "scores";

export interface ForwardOutput {
  /** this stage's output, a copy (every stage but the last) */
  activation?: Float32Array;
  /** mean loss of the batch's tokens, computed as the training forward computes it (head "loss") */
  loss?: number;
  /** log-probabilities and argmax flags of every position (head "scores") */
  scores?: TokenScores;
}

export interface DecodeOutput {
  /** this stage's output, a copy (every stage but the last) */
  activation?: Float32Array;
  /** next-token logits [batch, vocabulary] gathered over TP (last stage, when asked) */
  logits?: Float32Array;
}

/** Forward-only buffers by batch size; keeps the two most recently used sizes (e.g. full and last partial batch). */
export class ForwardBufferPool {
  private readonly sizes = new Map<number, ForwardBuffers>();

  /** Buffers for `batch` windows, the head computing `headChunkRows` rows of logits at once (default as localShape's). */
  get(w: StageWeights, batch: number, headChunkRows?: number): ForwardBuffers {
    let f = this.sizes.get(batch);
    if (f)
      this.sizes.delete(batch); // re-insert: Map order = least recently used first
    else {
      f = new ForwardBuffers(w.localShape(batch, w.config.seqLen, headChunkRows), (n) => w.backend.alloc(n));
      if (this.sizes.size >= 2) this.sizes.delete(this.sizes.keys().next().value!);
    }
    this.sizes.set(batch, f);
    return f;
  }
}

/**
 * Embedding (first stage) or the received activation, then the stage's layers, taking turns in f's two residual
 * buffers; `keep(layer, qkv)` sees each layer's qkv (this rank's heads) once it has run. Returns the residual
 * stream after the last layer, its kernels recorded on the pass's stream.
 */
async function layers(
  w: StageWeights,
  f: ForwardBuffers,
  pass: StagePass,
  input: ForwardInput,
  method: string,
  keep?: (layer: number, qkv: Float32Array) => void,
) {
  const rows = f.shape.batch * f.shape.seq,
    x0 = f.layers[0].input;
  if (w.isFirst)
    await embeddingForward(pass.vocab, w.checkTokens(method, "tokens", input.tokens, rows), w.tensor("wte"), w.tensor("wpe"), x0);
  else x0.set(w.checkActivation(method, "activation", input.activation, rows));
  for (let l = 0; l < w.layerCount; l++) {
    const a = f.layers[l % 2];
    await blockForward(pass.block, w.blocks[l]!, a, f.scratch, f.layers[(l + 1) % 2].input);
    if (keep) {
      await pass.block.stream.flush();
      keep(l, a.qkv);
    }
  }
  return f.output(w.layerCount);
}

/** This stage's part of a forward-only pass of f.shape.batch whole windows; the last stage applies `head`. */
export async function forwardOnly(w: StageWeights, f: ForwardBuffers, input: ForwardInput, head: ForwardHead): Promise<ForwardOutput> {
  const pass = w.pass(f.shape),
    rows = f.shape.batch * f.shape.seq;
  const x = await layers(w, f, pass, input, "forward-only");
  if (!w.isLast) {
    await pass.block.stream.flush();
    return { activation: Float32Array.from(x) };
  }
  const targets = w.checkTokens("forward-only", "targets", input.targets, rows),
    h = w.headTensors();
  if (head === "loss") return { loss: (await headLoss(pass.vocab, x, targets, h, f.scratch)) / rows };
  finalNorm(pass.vocab, x, rows, h, f.scratch);
  return { scores: await scoreTargets(pass.vocab, f.scratch.lnf, targets, rows, h.wte.param, f.scratch) };
}

/**
 * Fills the empty context with the first `n` positions of f.shape.batch windows (padded on the right: causal
 * attention keeps the padding out of the first n) in one forward-only pass. The last stage returns the logits
 * after position n − 1 of each sequence.
 */
export async function prefill(
  w: StageWeights,
  f: ForwardBuffers,
  ctx: InferenceContext,
  n: number,
  input: ForwardInput,
): Promise<DecodeOutput> {
  const { batch, seq, dModel: d } = f.shape;
  if (ctx.length !== 0 || ctx.batch !== batch) throw new ParallelModelError(`prefill: needs an empty context of ${batch} sequence(s)`);
  if (!Number.isInteger(n) || n < 1 || n > seq) throw new ParallelModelError(`prefill: ${n} positions do not fit the window of ${seq}`);
  const pass = w.pass(f.shape);
  const x = await layers(w, f, pass, input, "prefill", (l, qkv) => ctx.keepPrefix(l, qkv, seq, n));
  ctx.prefilled(n);
  if (!w.isLast) {
    await pass.block.stream.flush();
    return { activation: Float32Array.from(x) };
  }
  const h = w.headTensors(),
    s = ctx.step;
  for (let b = 0; b < batch; b++) {
    const row = b * seq + n - 1;
    finalNorm(pass.vocab, x.subarray(row * d, (row + 1) * d), 1, h, {
      lnf: s.ln.subarray(b * d, (b + 1) * d),
      meanf: s.mean.subarray(b, b + 1),
      rstdf: s.rstd.subarray(b, b + 1),
    });
  }
  return { logits: await gatherLogits(pass.vocab, s.ln, batch, h.wte.param) };
}

/**
 * Appends one position to each of the context's sequences: input.tokens [batch] (first stage) or the previous
 * stage's output. The last stage returns the next-token logits when `wantLogits`.
 */
export async function decodeStep(w: StageWeights, ctx: InferenceContext, input: ForwardInput, wantLogits: boolean): Promise<DecodeOutput> {
  if (ctx.full) throw new ParallelModelError(`decode: the context is full (${ctx.maxLen} positions = the model's window)`);
  const batch = ctx.batch,
    s = ctx.step,
    pass = w.pass(w.localShape(batch, 1));
  if (w.isFirst)
    await embeddingForward(
      pass.vocab,
      w.checkTokens("decode", "tokens", input.tokens, batch),
      w.tensor("wte"),
      w.tensor("wpe"),
      s.x,
      ctx.length,
    );
  else s.x.set(w.checkActivation("decode", "activation", input.activation, batch));
  await ctx.decode(pass.block, w.blocks);
  if (!w.isLast || !wantLogits) {
    await pass.block.stream.flush();
    return w.isLast ? {} : { activation: Float32Array.from(s.x) };
  }
  const h = w.headTensors();
  finalNorm(pass.vocab, s.x, batch, h, { lnf: s.ln, meanf: s.mean, rstdf: s.rstd });
  return { logits: await gatherLogits(pass.vocab, s.ln, batch, h.wte.param) };
}
