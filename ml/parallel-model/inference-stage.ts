// One (pipeline stage, tensor-parallel rank) of a trained GPT for inference: its slice of a checkpoint of any
// layout (ml/checkpoint loadCheckpointShard, no optimizer state), and the forward of whole sequences for
// scoring. Activations move between stages over the PP group, partial sums over the TP group (Megatron's
// column/row-parallel block from ml/parallel-model); the last stage scores targets vocab-parallel.
import type { Backend } from "../../native/backend.ts";
import { nativeBackend } from "../../native/native-backend.ts";
import { KernelProgram } from "../../native/ops.ts";
import type { Collectives } from "../../runtime/collectives/types.ts";
import { loadCheckpointShard } from "../checkpoint/load-shard.ts";
import type { BlockTensors, Tensor } from "../model/block.ts";
import { gptParameterLayout } from "../model/param-layout.ts";
import type { GptConfig, NamedTensor } from "../model/types.ts";
import { StageActivations, stageScratch, type LocalShape, type StageScratch } from "./stage-activations.ts";
import { evenLayerSplit } from "./stage-model.ts";
import { vocabRange } from "./tensor-shards.ts";
import { tpBlockForward, type TpContext } from "./tp-block.ts";
import { copyToTp, reduceFromTp } from "./tp-mappings.ts";
import { InferenceError } from "./errors.ts";
import { checkInferenceLayout } from "./inference-layout.ts";
import { scoreTargets, type TokenScores, type VocabShard } from "./vocab-head.ts";

export interface StageGroups {
  tp: Collectives;
  pp: Collectives;
}

export interface InferenceStageOptions {
  config: GptConfig;
  pp: number;
  tp: number;
  stage: number;
  tpRank: number;
  groups: StageGroups;
  /** this rank's tensors (local shapes, global names), e.g. from loadCheckpointShard */
  params: readonly NamedTensor[];
  backend?: Backend;
}

/** What one scoring request holds: `batch` rows of seqLen input tokens and their next-token targets. */
export interface ScoreBatch {
  /** names the activations passed between stages (tag), unique per batch in flight */
  id?: number;
  batch: number;
  inputs: Int32Array;
  targets: Int32Array;
}


export class InferenceStage {
  readonly config: GptConfig;
  readonly stage: number;
  readonly stages: number;
  readonly tpRank: number;
  readonly tpSize: number;
  readonly firstLayer: number;
  readonly layerCount: number;
  readonly isFirst: boolean;
  readonly isLast: boolean;
  readonly groups: StageGroups;
  readonly backend: Backend;
  readonly blocks: BlockTensors[];
  /** heads, attention width and MLP width on this TP rank */
  readonly localHeads: number;
  readonly attnWidth: number;
  readonly mlpWidth: number;
  readonly vocab: { start: number; size: number };
  private readonly weights = new Map<string, Float32Array>();
  private readonly buffers = new Map<number, { shape: LocalShape; acts: StageActivations; scratch: StageScratch; out: Float32Array }>();

  constructor(o: InferenceStageOptions) {
    checkInferenceLayout(o.config, o);
    if (o.groups.tp.size !== o.tp || o.groups.tp.rank !== o.tpRank) throw new InferenceError(`the TP group is rank ${o.groups.tp.rank} of ${o.groups.tp.size}, expected ${o.tpRank} of ${o.tp}`);
    if (o.groups.pp.size !== o.pp || o.groups.pp.rank !== o.stage) throw new InferenceError(`the PP group is rank ${o.groups.pp.rank} of ${o.groups.pp.size}, expected ${o.stage} of ${o.pp}`);
    const c = (this.config = o.config);
    this.stage = o.stage;
    this.stages = o.pp;
    this.tpRank = o.tpRank;
    this.tpSize = o.tp;
    this.groups = o.groups;
    this.backend = o.backend ?? nativeBackend;
    const split = evenLayerSplit(c.layers, o.pp);
    this.firstLayer = split.slice(0, o.stage).reduce((a, b) => a + b, 0);
    this.layerCount = split[o.stage]!;
    this.isFirst = o.stage === 0;
    this.isLast = o.stage === o.pp - 1;
    this.localHeads = c.heads / o.tp;
    this.attnWidth = c.dModel / o.tp;
    this.mlpWidth = (4 * c.dModel) / o.tp;
    this.vocab = vocabRange(c.vocabSize, o.tpRank, o.tp);
    for (const t of o.params) {
      const data = this.backend.alloc(t.data.length);
      data.set(t.data);
      this.weights.set(t.name, data);
    }
    const none = new Float32Array(0);
    const t = (name: string): Tensor => ({ param: this.weight(name), grad: none });
    this.blocks = Array.from({ length: this.layerCount }, (_, i) => {
      const p = `h.${this.firstLayer + i}`;
      return {
        ln1w: t(`${p}.ln1.weight`), ln1b: t(`${p}.ln1.bias`), qkvw: t(`${p}.attn.qkv.weight`), qkvb: t(`${p}.attn.qkv.bias`),
        projw: t(`${p}.attn.proj.weight`), projb: t(`${p}.attn.proj.bias`), ln2w: t(`${p}.ln2.weight`), ln2b: t(`${p}.ln2.bias`),
        fcw: t(`${p}.mlp.fc.weight`), fcb: t(`${p}.mlp.fc.bias`), fc2w: t(`${p}.mlp.proj.weight`), fc2b: t(`${p}.mlp.proj.bias`),
      };
    });
    if (this.isFirst) this.weight("wpe");
    if (this.isFirst || this.isLast) this.weight("wte");
    if (this.isLast) this.weight("lnf.weight");
  }

  /** A tensor of this rank by its global name. */
  weight(name: string): Float32Array {
    const w = this.weights.get(name);
    if (!w) throw new InferenceError(`stage ${this.stage}, TP rank ${this.tpRank}: the loaded shard has no tensor ${name}`);
    return w;
  }

  /** The vocabulary shard of the tied head / embedding. */
  vocabShard(): VocabShard {
    return {
      backend: this.backend, tp: this.groups.tp, dModel: this.config.dModel, vocabStart: this.vocab.start, vocabRows: this.vocab.size,
      vocabTotal: this.config.vocabSize, wte: this.weight("wte"),
    };
  }

  /** TP context of the block kernels for `rows` rows of `seq` positions. */
  tpContext(shape: LocalShape): TpContext {
    return { backend: this.backend, shape, addsReplicated: this.tpRank === 0, copy: copyToTp(this.groups.tp), reduce: reduceFromTp(this.groups.tp) };
  }

  /** Vocab-parallel embedding of `tokens` ([batch, seq], positions from `position`) into `out`, all-reduced over TP. */
  async embed(tokens: Int32Array, batch: number, seq: number, position: number, out: Float32Array): Promise<void> {
    const d = this.config.dModel;
    const p = new KernelProgram();
    p.add("embeddingForward", {
      tokens, wte: this.weight("wte"), wpe: this.tpRank === 0 ? this.weight("wpe").subarray(position * d, (position + seq) * d) : null, out,
      batch, seq, dModel: d, vocabStart: this.vocab.start, vocabSize: this.vocab.size, vocabTotal: this.config.vocabSize,
    });
    await p.run(this.backend);
    if (this.tpSize > 1) await this.groups.tp.allReduce(out, "sum");
  }

  /** Final LayerNorm of `rows` rows of `x` into `out`. */
  async finalNorm(x: Float32Array, rows: number, out: Float32Array, mean: Float32Array, rstd: Float32Array): Promise<void> {
    const p = new KernelProgram();
    p.add("layerNormForward", { x, gamma: this.weight("lnf.weight"), beta: this.weight("lnf.bias"), out, mean, rstd, rows, cols: this.config.dModel });
    await p.run(this.backend);
  }

  /**
   * This rank's part of scoring one batch: embedding (first stage) or the previous stage's activation, the
   * stage's layers, then the next stage or (last stage) the vocab-parallel scores of every position.
   * Returns the scores on the last stage, null elsewhere. Every rank of the job must call it with the same batch.
   */
  async score(b: ScoreBatch): Promise<TokenScores | null> {
    const rows = b.batch * this.config.seqLen;
    if (b.targets.length !== rows) throw new InferenceError(`score: 'targets' has ${b.targets.length} tokens, expected batch·seqLen = ${rows}`);
    this.checkVocabulary("targets", b.targets);
    const run = await this.forwardSequences(b.inputs, b.batch, `score:${b.id ?? 0}`);
    if (!run) return null;
    const { x, shape, scratch } = run;
    await this.finalNorm(x, rows, scratch.lnf, scratch.meanf, scratch.rstdf);
    return scoreTargets(this.vocabShard(), scratch.lnf, b.targets, rows, shape.headChunkRows);
  }

  /**
   * The stage's part of a forward of `batch` whole windows (seqLen tokens each; read on the first stage), the
   * activations passed between stages under `tag`. `afterLayer(l, qkv)` sees each local layer's qkv [rows, 3·aw]
   * (this rank's heads) before the next layer overwrites it. Returns the final residual stream on the last stage,
   * null elsewhere (after sending it on).
   */
  async forwardSequences(inputs: Int32Array, batch: number, tag: string, afterLayer?: (layer: number, qkv: Float32Array) => void) {
    const { seqLen, dModel: d } = this.config;
    const rows = batch * seqLen;
    if (inputs.length !== rows) throw new InferenceError(`forward: 'inputs' has ${inputs.length} tokens, expected batch·seqLen = ${rows}`);
    this.checkVocabulary("inputs", inputs);
    const { shape, acts, scratch, out } = this.buffersFor(batch);
    const layer = acts.layers[0]!;
    const x = layer.input;
    if (this.isFirst) await this.embed(inputs, batch, seqLen, 0, x);
    else {
      const received = await this.groups.pp.recv(this.stage - 1, tag);
      if (received.length !== rows * d) throw new InferenceError(`forward: stage ${this.stage} received ${received.length} floats, expected ${rows * d}`);
      x.set(received);
    }
    const ctx = this.tpContext(shape);
    for (let l = 0; l < this.layerCount; l++) {
      await tpBlockForward(ctx, this.blocks[l]!, layer, scratch, out);
      afterLayer?.(l, layer.qkv);
      x.set(out);
    }
    if (!this.isLast) {
      await this.groups.pp.send(x, this.stage + 1, tag);
      return null;
    }
    return { x, shape, scratch };
  }

  /** Every rank checks the same tokens, so a bad request fails everywhere before any collective starts. */
  private checkVocabulary(name: string, tokens: Int32Array): void {
    const v = this.config.vocabSize;
    const i = tokens.findIndex((t) => t < 0 || t >= v);
    if (i >= 0) throw new InferenceError(`'${name}'[${i}] = ${tokens[i]} is outside the vocabulary [0, ${v})`);
  }

  /** One layer's activations and the shared scratch for a batch size (the layers run one after another). */
  private buffersFor(batch: number) {
    let buf = this.buffers.get(batch);
    if (!buf) {
      const c = this.config;
      const shape: LocalShape = {
        batch, seq: c.seqLen, dModel: c.dModel, heads: this.localHeads, attnWidth: this.attnWidth, mlpWidth: this.mlpWidth,
        vocabRows: this.vocab.size, headChunkRows: Math.max(1, Math.min(batch * c.seqLen, Math.floor((1 << 20) / this.vocab.size), 256)),
      };
      const alloc = (n: number) => this.backend.alloc(n);
      buf = { shape, acts: new StageActivations(shape, 1, alloc), scratch: stageScratch(shape, alloc), out: alloc(batch * c.seqLen * c.dModel) };
      this.buffers.set(batch, buf);
    }
    return buf;
  }
}

/** Loads this rank's slice of the checkpoint at `dir` (a step folder, any saved layout) as an inference stage. */
export function loadInferenceStage(dir: string, o: Omit<InferenceStageOptions, "params">): InferenceStage {
  checkInferenceLayout(o.config, o);
  const layout = { pp: o.pp, tp: o.tp, layersPerStage: evenLayerSplit(o.config.layers, o.pp), heads: o.config.heads };
  const shard = loadCheckpointShard(dir, { layout, coord: { stage: o.stage, tpRank: o.tpRank }, params: gptParameterLayout(o.config), optimizer: false });
  return new InferenceStage({ ...o, params: shard.params });
}
