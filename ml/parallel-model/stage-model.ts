// One (pipeline stage, tensor-parallel rank) of the GPT: only its layers (first stage: + wte/wpe, last stage:
// + lnf and the tied head, with its own copy of its wte shard when there are several stages), each tensor the
// TP slice of the single-rank model's tensor with the same seed (initialised whole from (seed, name), then sliced).
import type { Backend } from "../../native/backend.ts";
import { nativeBackend } from "../../native/native-backend.ts";
import { KernelProgram } from "../../native/ops.ts";
import type { Collectives } from "../../runtime/collectives/types.ts";
import type { BlockTensors, Tensor } from "../model/block.ts";
import { validateGptConfig } from "../model/config.ts";
import { initParameter } from "../model/init.ts";
import { elementCount, gptParameterLayout, type ParameterSpec } from "../model/param-layout.ts";
import { rankShards, type TensorShard } from "../parallel/shard-spec.ts";
import { ParameterStore } from "../model/parameter-store.ts";
import type { GptConfig, NamedTensor } from "../model/types.ts";
import { ParallelModelError } from "./errors.ts";
import { StageActivations, stageScratch, type LocalShape, type StageScratch } from "./stage-activations.ts";
import { sliceShard, vocabRange } from "./tensor-shards.ts";
import { tpBlockBackward, tpBlockForward, type TpContext } from "./tp-block.ts";
import { copyToTp, reduceFromTp } from "./tp-mappings.ts";
import { embeddingBackward, embeddingForward, headForwardBackward, headLoss, type VocabContext } from "./vocab-parallel.ts";

export interface StageModelOptions {
  config: GptConfig;
  /** pipeline stages and tensor-parallel ranks (e.g. a RankLayout's sizes) */
  layout: { sizes: { pp: number; tp: number } };
  stage: number;
  tpRank: number;
  /** the TP group of this rank (size = layout.sizes.tp) */
  groups: { tp: Collectives };
  seed: number;
  /** sequences per micro-batch */
  microBatch: number;
  /** rows of logits the head computes at once (default: ≤ 256 rows and ≤ 1M logits, as the single-rank model) */
  headChunkRows?: number;
  /** layers of each stage (default: as even as possible, earlier stages one more) */
  layersPerStage?: readonly number[];
  backend?: Backend;
}

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

export class StageModel {
  readonly config: GptConfig;
  readonly stage: number;
  readonly stages: number;
  readonly tpRank: number;
  readonly tpSize: number;
  readonly firstLayer: number;
  readonly layerCount: number;
  readonly isFirst: boolean;
  readonly isLast: boolean;
  readonly microBatch: number;
  readonly store: ParameterStore;
  /** what this rank holds of each of its tensors, in parameter order (shard-spec.ts) */
  readonly shards: readonly TensorShard[];
  private readonly globalSpecs: ParameterSpec[];
  private readonly backend: Backend;
  private readonly blocks: BlockTensors[];
  private readonly shape: LocalShape;
  private readonly scratch: StageScratch;
  private readonly acts = new Map<number, StageActivations>();
  // Buffers of micro-batches whose backward is done, reused by later forwards: 1F1B keeps at most
  // `stages - stage` micro-batches in flight, so a step needs that many sets, not one per micro-batch.
  private readonly freeActs: StageActivations[] = [];
  private readonly tokens = new Map<number, Int32Array>();
  private readonly tpCtx: TpContext;
  /** each local layer's parameter indices, last first */
  private readonly layerIndices: number[][];
  private readonly vocabCtx: VocabContext;

  constructor(o: StageModelOptions) {
    const config = (this.config = validateGptConfig(o.config));
    const { pp, tp } = o.layout.sizes;
    if (!Number.isInteger(o.stage) || o.stage < 0 || o.stage >= pp) throw new ParallelModelError(`stage ${o.stage} is outside 0..${pp - 1}`);
    if (!Number.isInteger(o.tpRank) || o.tpRank < 0 || o.tpRank >= tp) throw new ParallelModelError(`tpRank ${o.tpRank} is outside 0..${tp - 1}`);
    if (o.groups.tp.size !== tp || o.groups.tp.rank !== o.tpRank) {
      throw new ParallelModelError(`the TP group is rank ${o.groups.tp.rank} of ${o.groups.tp.size}, expected rank ${o.tpRank} of ${tp}`);
    }
    if (config.heads % tp !== 0) throw new ParallelModelError(`heads ${config.heads} is not divisible by tp ${tp}`);
    if (!Number.isInteger(o.microBatch) || o.microBatch < 1) throw new ParallelModelError(`microBatch must be a positive integer, got ${o.microBatch}`);
    if (o.headChunkRows !== undefined && !(Number.isInteger(o.headChunkRows) && o.headChunkRows >= 1)) {
      throw new ParallelModelError(`headChunkRows must be a positive integer, got ${o.headChunkRows}`);
    }
    if (!Number.isInteger(o.seed)) throw new ParallelModelError(`seed must be an integer, got ${o.seed}`);
    const vocab = vocabRange(config.vocabSize, o.tpRank, tp);
    const split = o.layersPerStage ?? evenLayerSplit(config.layers, pp);
    if (split.length !== pp || split.some((n) => !Number.isInteger(n) || n < 1) || split.reduce((a, b) => a + b, 0) !== config.layers) {
      throw new ParallelModelError(`layersPerStage [${split.join(", ")}] must give each of ${pp} stages ≥ 1 layer, ${config.layers} in all`);
    }
    this.stage = o.stage;
    this.stages = pp;
    this.tpRank = o.tpRank;
    this.tpSize = tp;
    this.firstLayer = split.slice(0, o.stage).reduce((a, b) => a + b, 0);
    this.layerCount = split[o.stage]!;
    this.isFirst = o.stage === 0;
    this.isLast = o.stage === pp - 1;
    this.microBatch = o.microBatch;
    this.backend = o.backend ?? nativeBackend;
    const all = gptParameterLayout(config);
    this.shards = rankShards(all, { tp, pp, layersPerStage: split, heads: config.heads }, { stage: o.stage, tpRank: o.tpRank });
    this.globalSpecs = this.shards.map((sh) => all.find((p) => p.name === sh.name)!);
    this.layerIndices = Array.from({ length: this.layerCount }, (_, l) => this.indicesOf(new RegExp(`^h\\.${this.firstLayer + l}\\.`)).reverse());
    const localSpecs = this.globalSpecs.map((s, i) => ({ ...s, shape: this.shards[i]!.localShape }));
    this.store = new ParameterStore(localSpecs, (n) => this.backend.alloc(n));
    const t = (name: string): Tensor => ({ param: this.store.param(name), grad: this.store.grad(name) });
    this.blocks = Array.from({ length: this.layerCount }, (_, i) => {
      const p = `h.${this.firstLayer + i}`;
      return {
        ln1w: t(`${p}.ln1.weight`), ln1b: t(`${p}.ln1.bias`), qkvw: t(`${p}.attn.qkv.weight`), qkvb: t(`${p}.attn.qkv.bias`),
        projw: t(`${p}.attn.proj.weight`), projb: t(`${p}.attn.proj.bias`), ln2w: t(`${p}.ln2.weight`), ln2b: t(`${p}.ln2.bias`),
        fcw: t(`${p}.mlp.fc.weight`), fcb: t(`${p}.mlp.fc.bias`), fc2w: t(`${p}.mlp.proj.weight`), fc2b: t(`${p}.mlp.proj.bias`),
      };
    });
    this.shape = {
      batch: o.microBatch, seq: config.seqLen, dModel: config.dModel, heads: config.heads / tp,
      attnWidth: config.dModel / tp, mlpWidth: (4 * config.dModel) / tp, vocabRows: vocab.size,
      headChunkRows: o.headChunkRows ?? Math.max(1, Math.min(o.microBatch * config.seqLen, Math.floor((1 << 20) / vocab.size), 256)),
    };
    this.scratch = stageScratch(this.shape, (n) => this.backend.alloc(n));
    const addsReplicated = o.tpRank === 0;
    this.tpCtx = { backend: this.backend, shape: this.shape, addsReplicated, copy: copyToTp(o.groups.tp), reduce: reduceFromTp(o.groups.tp) };
    this.vocabCtx = { backend: this.backend, shape: this.shape, tp: o.groups.tp, vocabStart: vocab.start, vocabTotal: config.vocabSize, addsReplicated };
  }

  /**
   * Initialises each tensor from (seed, name): a whole one in place, a sliced one whole in one scratch buffer (the
   * largest sliced tensor's size, reused) and then its slice, so no more than one global tensor exists at a time.
   */
  async initialize(seed: number): Promise<void> {
    const sliced = this.shards.flatMap((shard, i) => (elementCount(shard.localShape) === elementCount(shard.globalShape) ? [] : [i]));
    const program = new KernelProgram();
    this.shards.forEach((_, i) => sliced.includes(i) || initParameter(program, this.globalSpecs[i]!, this.store.params[i]!.data, seed, this.config.layers));
    await program.run(this.backend);
    if (sliced.length === 0) return;
    const scratch = this.backend.alloc(Math.max(...sliced.map((i) => elementCount(this.globalSpecs[i]!.shape))));
    for (const i of sliced) {
      const whole = scratch.subarray(0, elementCount(this.globalSpecs[i]!.shape));
      const p = new KernelProgram();
      initParameter(p, this.globalSpecs[i]!, whole, seed, this.config.layers);
      await p.run(this.backend);
      sliceShard(this.shards[i]!, whole, this.store.params[i]!.data);
    }
  }

  parameters(): NamedTensor[] {
    return this.store.params;
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
    const p = new KernelProgram();
    p.add("fill", { x: this.store.flatGrads, n: this.store.flatGrads.length, value: 0 });
    await p.run(this.backend);
  }

  async forward(microbatch: number, input: StageInput): Promise<StageOutput> {
    const a = this.activationsFor(microbatch);
    const tokens = await this.layersForward(a, input, "forward");
    if (tokens) this.tokens.set(microbatch, tokens);
    if (!this.isLast) return { activation: a.output };
    const targets = this.checkTokens("targets", input.targets);
    const scale = input.gradScale ?? 1;
    if (!Number.isFinite(scale)) throw new ParallelModelError(`stage ${this.stage} forward: 'gradScale' must be finite, got ${scale}`);
    const head = { wte: this.tensor("wte"), lnfw: this.tensor("lnf.weight"), lnfb: this.tensor("lnf.bias") };
    const loss = await headForwardBackward(this.vocabCtx, a.output, targets, head, this.scratch, a.dOutput, scale / a.rows);
    return { loss: loss / a.rows };
  }

  /**
   * Forward only (validation): nothing is kept for a backward and no gradient changes. Every stage but the last
   * returns a copy of its output activation; the last returns the mean loss of the micro-batch, computed as
   * forward() computes it.
   */
  async evaluate(input: StageInput): Promise<StageOutput> {
    const a = this.freeActs.pop() ?? new StageActivations(this.shape, this.layerCount, (n) => this.backend.alloc(n));
    try {
      await this.layersForward(a, input, "evaluate");
      if (!this.isLast) return { activation: Float32Array.from(a.output) };
      const targets = this.checkTokens("targets", input.targets);
      const head = { wte: this.tensor("wte"), lnfw: this.tensor("lnf.weight"), lnfb: this.tensor("lnf.bias") };
      return { loss: (await headLoss(this.vocabCtx, a.output, targets, head, this.scratch)) / a.rows };
    } finally {
      this.freeActs.push(a);
    }
  }

  /** Embedding (first stage) or the received activation, then this stage's layers; returns the checked tokens. */
  private async layersForward(a: StageActivations, input: StageInput, method: string): Promise<Int32Array | undefined> {
    const x0 = a.layers[0]!.input;
    let tokens: Int32Array | undefined;
    if (this.isFirst) {
      tokens = this.checkTokens("tokens", input.tokens);
      await embeddingForward(this.vocabCtx, tokens, this.tensor("wte"), this.tensor("wpe"), x0);
    } else {
      if (!(input.activation instanceof Float32Array) || input.activation.length !== this.activationLength) {
        throw new ParallelModelError(`stage ${this.stage} ${method}: 'activation' must be a Float32Array of ${this.activationLength} floats`);
      }
      x0.set(input.activation);
    }
    for (let l = 0; l < this.layerCount; l++) {
      await tpBlockForward(this.tpCtx, this.blocks[l]!, a.layers[l]!, this.scratch, a.layers[l + 1]?.input ?? a.output);
    }
    return tokens;
  }

  /**
   * Backward of one micro-batch whose forward ran: `gradOutput` is d(loss)/d(this stage's output) (not on the
   * last stage). Returns d(loss)/d(this stage's input activation), or null on the first stage. Accumulates grads.
   * `onGradsFinal` (for the step's last backward) hears which gradients have stopped changing, as soon as they
   * have, in `gradientReadyOrder()` — except a tied wte copy when there are several stages.
   */
  async backward(microbatch: number, gradOutput?: Float32Array, onGradsFinal?: (paramIndices: readonly number[]) => void): Promise<Float32Array | null> {
    const a = this.acts.get(microbatch);
    if (!a) throw new ParallelModelError(`stage ${this.stage} backward: micro-batch ${microbatch} has no forward`);
    const dx = this.scratch.dResidual;
    if (this.isLast) dx.set(a.dOutput);
    else {
      if (!(gradOutput instanceof Float32Array) || gradOutput.length !== this.activationLength) {
        throw new ParallelModelError(`stage ${this.stage} backward: 'gradOutput' must be a Float32Array of ${this.activationLength} floats`);
      }
      dx.set(gradOutput);
    }
    if (this.isLast) onGradsFinal?.(this.indicesOf(/^lnf\./));
    for (let l = this.layerCount - 1; l >= 0; l--) {
      await tpBlockBackward(this.tpCtx, this.blocks[l]!, a.layers[l]!, this.scratch);
      onGradsFinal?.(this.layerIndices[l]!);
    }
    if (!this.isFirst) {
      this.release(microbatch, a);
      return Float32Array.from(dx);
    }
    await embeddingBackward(this.vocabCtx, this.tokens.get(microbatch)!, dx, this.tensor("wte"), this.tensor("wpe"));
    this.release(microbatch, a);
    onGradsFinal?.(this.indicesOf(this.stages === 1 ? /^(wpe|wte)$/ : /^wpe$/));
    return null;
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

  private tensor(name: string): Tensor {
    return { param: this.store.param(name), grad: this.store.grad(name) };
  }

  private activationsFor(microbatch: number): StageActivations {
    if (!Number.isInteger(microbatch) || microbatch < 0) throw new ParallelModelError(`micro-batch index must be an integer ≥ 0, got ${microbatch}`);
    let a = this.acts.get(microbatch);
    if (!a) {
      a = this.freeActs.pop() ?? new StageActivations(this.shape, this.layerCount, (n) => this.backend.alloc(n));
      this.acts.set(microbatch, a);
    }
    return a;
  }

  private checkTokens(name: string, t: Int32Array | undefined): Int32Array {
    const n = this.microBatch * this.config.seqLen;
    if (!(t instanceof Int32Array) || t.length !== n) throw new ParallelModelError(`stage ${this.stage} forward: '${name}' must be an Int32Array of ${n} tokens`);
    for (let i = 0; i < n; i++) {
      if (t[i]! < 0 || t[i]! >= this.config.vocabSize) throw new ParallelModelError(`'${name}'[${i}] = ${t[i]} is outside the vocabulary [0, ${this.config.vocabSize})`);
    }
    return t;
  }
}

/** Layers per stage as even as possible, earlier stages one more (the default split). */
export function evenLayerSplit(layers: number, stages: number): number[] {
  return Array.from({ length: stages }, (_, i) => Math.floor(layers / stages) + (i < layers % stages ? 1 : 0));
}
