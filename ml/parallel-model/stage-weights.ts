// What one (pipeline stage, tensor-parallel rank) of the GPT holds: only its layers (first stage: + wte/wpe, last
// stage: + lnf and the tied head, with its own copy of its wte shard when there are several stages), each tensor
// the TP slice of the single-rank model's tensor (ml/parallel/shard-spec.ts); and how a pass of its kernels meets
// the other TP ranks. The weights come from (seed, name), each initialised whole and then sliced, as the
// single-rank model initialises it, or from a checkpoint of any layout (load-stage.ts).
import type { Backend } from "../../native/backend.ts";
import { nativeBackend } from "../../native/native-backend.ts";
import { KernelProgram } from "../../native/ops.ts";
import type { Collectives } from "../../runtime/collectives/types.ts";
import { blockTensors, type BlockContext, type BlockTensors, type Tensor, type TpMapping } from "../model/block.ts";
import { validateGptConfig } from "../model/config.ts";
import { initParameter } from "../model/init.ts";
import { KernelStream } from "../model/kernel-stream.ts";
import { elementCount, gptParameterLayout, type ParameterSpec } from "../model/param-layout.ts";
import { ParameterStore } from "../model/parameter-store.ts";
import type { GptConfig, NamedTensor } from "../model/types.ts";
import { rankShards, type TensorShard } from "../parallel/shard-spec.ts";
import { ParallelModelError } from "./errors.ts";
import { defaultHeadChunkRows, type LocalShape } from "./stage-activations.ts";
import { sliceShard, vocabRange } from "./tensor-shards.ts";
import { copyToTp, reduceFromTp } from "./tp-mappings.ts";
import type { HeadTensors, VocabContext } from "./vocab-parallel.ts";

export interface StageWeightsOptions {
  config: GptConfig;
  /** pipeline stages and tensor-parallel ranks (e.g. a RankLayout's sizes) */
  layout: { sizes: { pp: number; tp: number } };
  stage: number;
  tpRank: number;
  /** the TP group of this rank (size = layout.sizes.tp) */
  groups: { tp: Collectives };
  /** layers of each stage (default: as even as possible, earlier stages one more) */
  layersPerStage?: readonly number[];
  /** keep a gradient per parameter (default true); false for a model that only infers */
  gradients?: boolean;
  backend?: Backend;
}

/** The contexts of one pass: its kernel stream, shared by the blocks and the vocabulary-parallel embedding and head. */
export interface StagePass {
  block: BlockContext;
  vocab: VocabContext;
}

export class StageWeights {
  readonly config: GptConfig;
  readonly stage: number;
  readonly stages: number;
  readonly tpRank: number;
  readonly tpSize: number;
  readonly firstLayer: number;
  readonly layerCount: number;
  readonly isFirst: boolean;
  readonly isLast: boolean;
  readonly store: ParameterStore;
  /** what this rank holds of each of its tensors, in parameter order (shard-spec.ts) */
  readonly shards: readonly TensorShard[];
  readonly backend: Backend;
  /** this stage's layers, first to last */
  readonly blocks: readonly BlockTensors[];
  /** the TP group */
  readonly tp: Collectives;
  /** this rank's rows of wte */
  readonly vocab: { start: number; size: number };
  private readonly globalSpecs: ParameterSpec[];
  private readonly copy: TpMapping;
  private readonly reduce: TpMapping;

  constructor(o: StageWeightsOptions) {
    const config = (this.config = validateGptConfig(o.config));
    const { pp, tp } = o.layout.sizes;
    if (!Number.isInteger(o.stage) || o.stage < 0 || o.stage >= pp)
      throw new ParallelModelError(`stage ${o.stage} is outside 0..${pp - 1}`);
    if (!Number.isInteger(o.tpRank) || o.tpRank < 0 || o.tpRank >= tp)
      throw new ParallelModelError(`tpRank ${o.tpRank} is outside 0..${tp - 1}`);
    if (o.groups.tp.size !== tp || o.groups.tp.rank !== o.tpRank) {
      throw new ParallelModelError(`the TP group is rank ${o.groups.tp.rank} of ${o.groups.tp.size}, expected rank ${o.tpRank} of ${tp}`);
    }
    if (config.heads % tp !== 0) throw new ParallelModelError(`heads ${config.heads} is not divisible by tp ${tp}`);
    this.vocab = vocabRange(config.vocabSize, o.tpRank, tp);
    const split = o.layersPerStage ?? evenLayerSplit(config.layers, pp);
    if (split.length !== pp || split.some((n) => !Number.isInteger(n) || n < 1) || split.reduce((a, b) => a + b, 0) !== config.layers) {
      throw new ParallelModelError(
        `layersPerStage [${split.join(", ")}] must give each of ${pp} stages ≥ 1 layer, ${config.layers} in all`,
      );
    }
    this.stage = o.stage;
    this.stages = pp;
    this.tpRank = o.tpRank;
    this.tpSize = tp;
    this.firstLayer = split.slice(0, o.stage).reduce((a, b) => a + b, 0);
    this.layerCount = split[o.stage]!;
    this.isFirst = o.stage === 0;
    this.isLast = o.stage === pp - 1;
    this.backend = o.backend ?? nativeBackend;
    this.tp = o.groups.tp;
    const all = gptParameterLayout(config);
    this.shards = rankShards(all, { tp, pp, layersPerStage: split, heads: config.heads }, { stage: o.stage, tpRank: o.tpRank });
    this.globalSpecs = this.shards.map((sh) => all.find((p) => p.name === sh.name)!);
    const localSpecs = this.globalSpecs.map((s, i) => ({ ...s, shape: this.shards[i]!.localShape }));
    this.store = new ParameterStore(localSpecs, (n) => this.backend.alloc(n), { gradients: o.gradients });
    this.blocks = Array.from({ length: this.layerCount }, (_, i) => blockTensors(this.store, this.firstLayer + i));
    this.copy = copyToTp(this.tp);
    this.reduce = reduceFromTp(this.tp);
  }

  /**
   * Initialises each tensor from (seed, name): a whole one in place, a sliced one whole in one scratch buffer (the
   * largest sliced tensor's size, reused) and then its slice, so no more than one global tensor exists at a time.
   */
  async initialize(seed: number): Promise<void> {
    if (!Number.isInteger(seed)) throw new ParallelModelError(`seed must be an integer, got ${seed}`);
    const sliced = this.shards.flatMap((shard, i) => (elementCount(shard.localShape) === elementCount(shard.globalShape) ? [] : [i]));
    const program = new KernelProgram();
    this.shards.forEach(
      (_, i) => sliced.includes(i) || initParameter(program, this.globalSpecs[i]!, this.store.params[i]!.data, seed, this.config.layers),
    );
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

  /** Copies in this rank's tensors (local shapes, global names; e.g. a checkpoint shard's), every one of them. */
  load(tensors: readonly NamedTensor[]): void {
    const byName = new Map(tensors.map((t) => [t.name, t]));
    for (const p of this.store.params) {
      const t = byName.get(p.name);
      if (!t) throw new ParallelModelError(`stage ${this.stage}, TP rank ${this.tpRank}: the loaded tensors have no ${p.name}`);
      if (t.data.length !== p.data.length)
        throw new ParallelModelError(`${p.name}: loaded ${t.data.length} elements, this rank holds ${p.data.length}`);
      p.data.set(t.data);
    }
  }

  parameters(): NamedTensor[] {
    return this.store.params;
  }

  /** A tensor of this rank by its global name. */
  tensor(name: string): Tensor {
    return { param: this.store.param(name), grad: this.store.grad(name) };
  }

  /** The final LayerNorm and the tied head (last stage). */
  headTensors(): HeadTensors {
    return { wte: this.tensor("wte"), lnfw: this.tensor("lnf.weight"), lnfb: this.tensor("lnf.bias") };
  }

  /** The local shape of `batch` sequences of `seq` positions on this rank. */
  localShape(batch: number, seq: number, headChunkRows = defaultHeadChunkRows(batch * seq, this.vocab.size)): LocalShape {
    const { dModel, heads } = this.config;
    return {
      batch,
      seq,
      dModel,
      heads: heads / this.tpSize,
      attnWidth: dModel / this.tpSize,
      mlpWidth: (4 * dModel) / this.tpSize,
      vocabRows: this.vocab.size,
      headChunkRows,
    };
  }

  /** The contexts of one pass over `shape`, on a fresh kernel stream. */
  pass(shape: LocalShape): StagePass {
    const stream = new KernelStream(this.backend),
      addsReplicated = this.tpRank === 0;
    return {
      block: { stream, shape, addsReplicated, copy: this.copy, reduce: this.reduce },
      vocab: { stream, shape, tp: this.tp, vocabStart: this.vocab.start, vocabTotal: this.config.vocabSize, addsReplicated },
    };
  }

  /** `t`, checked: `n` tokens inside the vocabulary. */
  checkTokens(method: string, name: string, t: Int32Array | undefined, n: number): Int32Array {
    if (!(t instanceof Int32Array) || t.length !== n)
      throw new ParallelModelError(`stage ${this.stage} ${method}: '${name}' must be an Int32Array of ${n} tokens`);
    for (let i = 0; i < n; i++) {
      if (t[i]! < 0 || t[i]! >= this.config.vocabSize)
        throw new ParallelModelError(`'${name}'[${i}] = ${t[i]} is outside the vocabulary [0, ${this.config.vocabSize})`);
    }
    return t;
  }

  /** `x`, checked: the previous stage's output of `rows` rows. */
  checkActivation(method: string, name: string, x: Float32Array | undefined, rows: number): Float32Array {
    const n = rows * this.config.dModel;
    if (!(x instanceof Float32Array) || x.length !== n)
      throw new ParallelModelError(`stage ${this.stage} ${method}: '${name}' must be a Float32Array of ${n} floats`);
    return x;
  }
}

/** Layers per stage as even as possible, earlier stages one more (the default split). */
export function evenLayerSplit(layers: number, stages: number): number[] {
  return Array.from({ length: stages }, (_, i) => Math.floor(layers / stages) + (i < layers % stages ? 1 : 0));
}
