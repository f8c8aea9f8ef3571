// One (pipeline stage, tensor-parallel rank) of the GPT, for every use of it: training (a micro-batch's forward
// keeps its activations for the backward), validation and scoring (forward only), and generation (prefill and
// KV-cache decoding over an inference context, as Megatron's attention serves training and inference). Its tensors
// (stage-weights.ts) are the TP slices of the single-rank model's; a model built without a training micro-batch
// only infers and holds no gradients.
import { KernelProgram } from "../../native/ops.ts";
import { blockBackward, blockForward } from "../model/block.ts";
import { InferenceContext } from "../model/inference-context.ts";
import type { NamedTensor } from "../model/types.ts";
import { ParallelModelError } from "./errors.ts";
import { StageActivations, stageScratch, type LocalShape, type StageScratch } from "./stage-activations.ts";
import {
  decodeStep,
  ForwardBufferPool,
  forwardOnly,
  prefill,
  type DecodeOutput,
  type ForwardHead,
  type ForwardInput,
  type ForwardOutput,
} from "./stage-forward.ts";
import { StageWeights, type StageWeightsOptions } from "./stage-weights.ts";
import { embeddingBackward, embeddingForward, headForwardBackward } from "./vocab-parallel.ts";

export interface StageModelOptions extends Omit<StageWeightsOptions, "gradients"> {
  seed: number;
  /** sequences per training micro-batch */
  microBatch: number;
  /** rows of logits the head computes at once (default: ≤ 256 rows and ≤ 1M logits, as the single-rank model) */
  headChunkRows?: number;
}

/** Options of a model that only infers: no seed (its weights are loaded), no micro-batch, no gradients. */
export type InferenceStageModelOptions = Omit<StageModelOptions, "seed" | "microBatch" | "headChunkRows">;

/** What a stage receives for one micro-batch: tokens on the first stage, else the previous stage's activation;
 * targets and the loss-gradient scale on the last stage. */
export interface StageInput {
  tokens?: Int32Array;
  activation?: Float32Array;
  targets?: Int32Array;
  /** d(loss)/d(mean micro-batch loss), e.g. 1/micro-batches (last stage) */
  gradScale?: number;
}

export interface StageOutput {
  /** residual stream after this stage's last layer [microBatch·seqLen, dModel] (every stage but the last) */
  activation?: Float32Array;
  /** mean loss over the micro-batch's tokens (last stage) */
  loss?: number;
}

export async function createStageModel(options: StageModelOptions): Promise<StageModel> {
  const model = new StageModel(options);
  await model.initialize(options.seed);
  return model;
}

/** Training state: the micro-batch shape and the buffers of the micro-batches in flight. */
interface Training {
  shape: LocalShape;
  scratch: StageScratch;
}

export class StageModel extends StageWeights {
  /** sequences per training micro-batch (0: a model that only infers) */
  readonly microBatch: number;
  private readonly training: Training | undefined;
  private readonly acts = new Map<number, StageActivations>();
  // Buffers of micro-batches whose backward is done, reused by later forwards: 1F1B keeps at most
  // `stages - stage` micro-batches in flight, so a step needs that many sets, not one per micro-batch.
  private readonly freeActs: StageActivations[] = [];
  private readonly tokens = new Map<number, Int32Array>();
  /** each local layer's parameter indices, last first */
  private readonly layerIndices: number[][];
  private readonly forwardBuffers = new ForwardBufferPool();

  constructor(o: StageModelOptions | InferenceStageModelOptions) {
    const microBatch = "microBatch" in o ? o.microBatch : undefined;
    if (microBatch !== undefined && !(Number.isInteger(microBatch) && microBatch >= 1)) {
      throw new ParallelModelError(`microBatch must be a positive integer, got ${microBatch}`);
    }
    const headChunkRows = "headChunkRows" in o ? o.headChunkRows : undefined;
    if (headChunkRows !== undefined && !(Number.isInteger(headChunkRows) && headChunkRows >= 1)) {
      throw new ParallelModelError(`headChunkRows must be a positive integer, got ${headChunkRows}`);
    }
    super({ ...o, gradients: microBatch !== undefined });
    this.microBatch = microBatch ?? 0;
    this.layerIndices = Array.from({ length: this.layerCount }, (_, l) =>
      this.indicesOf(new RegExp(`^h\\.${this.firstLayer + l}\\.`)).reverse(),
    );
    if (microBatch !== undefined) {
      const shape = this.localShape(microBatch, this.config.seqLen, headChunkRows);
      this.training = { shape, scratch: stageScratch(shape, (n) => this.backend.alloc(n)) };
    }
  }

  gradients(): NamedTensor[] {
    return this.store.grads;
  }

  /**
   * Whether each gradient (in `gradients()` order) counts toward the global gradient norm on this rank: TP-sharded
   * tensors on every rank, replicated ones on TP rank 0 only, and the last stage's copy of wte never (the first
   * stage counts it).
   */
  countsInGradNorm(): boolean[] {
    return this.shards.map((s) => s.primary);
  }

  /** Sum of the squared gradients this rank counts toward the global norm (countsInGradNorm), off the JS thread. */
  async gradNormSquared(): Promise<number> {
    const p = new KernelProgram();
    const grads = this.store.grads;
    this.shards.forEach((s, i) => s.primary && p.add("sumSquares", { x: grads[i]!.data, n: grads[i]!.data.length }));
    let total = 0;
    for (const r of await p.run(this.backend)) total += r; // fixed order: the same sum on every run
    return total;
  }

  /** Size of the activation passed between stages. */
  get activationLength(): number {
    return this.microBatch * this.config.seqLen * this.config.dModel;
  }

  async zeroGrad(): Promise<void> {
    this.trainingState("zeroGrad");
    const p = new KernelProgram();
    p.add("fill", { x: this.store.flatGrads, n: this.store.flatGrads.length, value: 0 });
    await p.run(this.backend);
  }

  async forward(microbatch: number, input: StageInput): Promise<StageOutput> {
    const { shape, scratch } = this.trainingState("forward");
    const a = this.activationsFor(microbatch);
    const pass = this.pass(shape);
    const x0 = a.layers[0]!.input;
    if (this.isFirst) {
      const tokens = this.checkTokens("forward", "tokens", input.tokens, a.rows);
      await embeddingForward(pass.vocab, tokens, this.tensor("wte"), this.tensor("wpe"), x0);
      this.tokens.set(microbatch, tokens);
    } else x0.set(this.checkActivation("forward", "activation", input.activation, a.rows));
    for (let l = 0; l < this.layerCount; l++) {
      await blockForward(pass.block, this.blocks[l]!, a.layers[l]!, scratch, a.layers[l + 1]?.input ?? a.output);
    }
    if (!this.isLast) {
      await pass.block.stream.flush();
      return { activation: a.output };
    }
    const targets = this.checkTokens("forward", "targets", input.targets, a.rows);
    const scale = input.gradScale ?? 1;
    if (!Number.isFinite(scale)) throw new ParallelModelError(`stage ${this.stage} forward: 'gradScale' must be finite, got ${scale}`);
    const loss = await headForwardBackward(pass.vocab, a.output, targets, this.headTensors(), scratch, a.dOutput, scale / a.rows);
    return { loss: loss / a.rows };
  }

  /**
   * Backward of one micro-batch whose forward ran: `gradOutput` is d(loss)/d(this stage's output) (not on the
   * last stage). Returns d(loss)/d(this stage's input activation), or null on the first stage. Accumulates grads.
   * `onGradsFinal` (for the step's last backward) hears which gradients have stopped changing, as soon as they
   * have, in `gradientReadyOrder()` — except a tied wte copy when there are several stages.
   */
  async backward(
    microbatch: number,
    gradOutput?: Float32Array,
    onGradsFinal?: (paramIndices: readonly number[]) => void,
  ): Promise<Float32Array | null> {
    const { shape, scratch } = this.trainingState("backward");
    const a = this.acts.get(microbatch);
    if (!a) throw new ParallelModelError(`stage ${this.stage} backward: micro-batch ${microbatch} has no forward`);
    const dx = scratch.dResidual;
    dx.set(this.isLast ? a.dOutput : this.checkActivation("backward", "gradOutput", gradOutput, a.rows));
    const pass = this.pass(shape),
      stream = pass.block.stream;
    if (this.isLast) onGradsFinal?.(this.indicesOf(/^lnf\./));
    for (let l = this.layerCount - 1; l >= 0; l--) {
      await blockBackward(pass.block, this.blocks[l]!, a.layers[l]!, scratch);
      if (onGradsFinal) {
        await stream.flush(); // the DP buckets read these gradients at once
        onGradsFinal(this.layerIndices[l]!);
      }
    }
    if (!this.isFirst) {
      await stream.flush();
      this.release(microbatch, a);
      return Float32Array.from(dx);
    }
    embeddingBackward(pass.vocab, this.tokens.get(microbatch)!, dx, this.tensor("wte"), this.tensor("wpe"));
    await stream.flush();
    this.release(microbatch, a);
    onGradsFinal?.(this.indicesOf(this.stages === 1 ? /^(wpe|wte)$/ : /^wpe$/));
    return null;
  }

  /**
   * Forward only (validation) of one training micro-batch: every stage but the last returns a copy of its output
   * activation; the last returns the mean loss of the micro-batch, computed as forward() computes it.
   */
  async evaluate(input: StageInput): Promise<StageOutput> {
    return this.forwardOnly(
      { batch: this.microBatch || undefined, tokens: input.tokens, activation: input.activation, targets: input.targets },
      "loss",
    );
  }

  /** This stage's part of a forward-only pass of `input.batch` whole windows (default: the training micro-batch). */
  async forwardOnly(input: ForwardInput, head: ForwardHead): Promise<ForwardOutput> {
    const batch = this.batchOf("forward-only", input.batch);
    // a training micro-batch's head runs in the chunks of the training forward
    const chunkRows = batch === this.microBatch ? this.training!.shape.headChunkRows : undefined;
    return forwardOnly(this, this.forwardBuffers.get(this, batch, chunkRows), input, head);
  }

  /** An empty inference context (KV cache) of this stage's layers and this rank's heads for `batch` sequences. */
  newInferenceContext(batch = 1): InferenceContext {
    this.batchOf("newInferenceContext", batch);
    const { seqLen: maxLen, dModel } = this.config,
      s = this.localShape(batch, 1);
    return new InferenceContext({ batch, maxLen, layers: this.layerCount, dModel, attnWidth: s.attnWidth, mlpWidth: s.mlpWidth }, (n) =>
      this.backend.alloc(n),
    );
  }

  /**
   * Fills the empty `ctx` with the first `n` tokens of each of its sequences in one forward-only pass of whole
   * windows (input.tokens: ctx.batch windows of seqLen tokens, padded on the right); the last stage returns the
   * logits after the n-th token.
   */
  async prefill(ctx: InferenceContext, n: number, input: ForwardInput): Promise<DecodeOutput> {
    return prefill(this, this.forwardBuffers.get(this, ctx.batch), ctx, n, input);
  }

  /** Appends one position to each sequence of `ctx` (input.tokens: one per sequence, first stage); the last stage returns the logits when `wantLogits`. */
  async decode(ctx: InferenceContext, input: ForwardInput, wantLogits = true): Promise<DecodeOutput> {
    return decodeStep(this, ctx, input, wantLogits);
  }

  private release(microbatch: number, a: StageActivations): void {
    this.acts.delete(microbatch);
    this.tokens.delete(microbatch);
    this.freeActs.push(a);
  }

  /**
   * Parameter indices in the order the last backward of a step finishes them: lnf, the layers from last to first
   * (each in reverse), wpe, then wte (last: a tied copy is final only after the embedding-group all-reduce).
   */
  gradientReadyOrder(): number[] {
    const wte = this.indicesOf(/^wte$/);
    const order = [...this.indicesOf(/^lnf\./)];
    for (let l = this.layerCount - 1; l >= 0; l--) order.push(...this.layerIndices[l]!);
    order.push(...this.indicesOf(/^wpe$/), ...wte);
    return order;
  }

  private indicesOf(pattern: RegExp): number[] {
    return this.shards.flatMap((s, i) => (pattern.test(s.name) ? [i] : []));
  }

  private trainingState(method: string): Training {
    if (!this.training)
      throw new ParallelModelError(`stage ${this.stage} ${method}: this stage model only infers (built without a training micro-batch)`);
    return this.training;
  }

  private batchOf(method: string, batch: number | undefined): number {
    const b = batch ?? this.trainingState(method).shape.batch;
    if (!Number.isInteger(b) || b < 1)
      throw new ParallelModelError(`stage ${this.stage} ${method}: 'batch' must be a positive integer, got ${b}`);
    return b;
  }

  private activationsFor(microbatch: number): StageActivations {
    if (!Number.isInteger(microbatch) || microbatch < 0)
      throw new ParallelModelError(`micro-batch index must be an integer ≥ 0, got ${microbatch}`);
    let a = this.acts.get(microbatch);
    if (!a) {
      a = this.freeActs.pop() ?? new StageActivations(this.training!.shape, this.layerCount, (n) => this.backend.alloc(n));
      this.acts.set(microbatch, a);
    }
    return a;
  }
}

export { evenLayerSplit } from "./stage-weights.ts";
