// Runs one training step of one rank: the stage's pipeline instruction list (GPipe, 1F1B, interleaved 1F1B) with
// activations and gradients sent over the PP group, then the tied-embedding and data-parallel gradient
// all-reduces, the global gradient norm across every model-parallel rank, clipping and AdamW.
// With interleaving a rank holds several model chunks: chunk c of pipeline rank s is virtual stage c·p + s, a
// StageModel built with pp = p·v and stage = c·p + s.
import { pipelineSchedule } from "../parallel/schedules.ts";
import { virtualStageOf, type Instruction, type ScheduleKind } from "../parallel/schedule-types.ts";
import { AdamW } from "../optim/adamw.ts";
import { ZeroAdamW } from "../optim/zero-adamw.ts";
import { clipScaleFor } from "../train/step.ts";
import { GradientBuckets } from "../../runtime/collectives/grad-buckets.ts";
import type { Collectives } from "../../runtime/collectives/types.ts";
import type { AdamWConfig, NamedTensor } from "../model/types.ts";
import { ParallelModelError } from "./errors.ts";
import { forwardThroughPipeline } from "./forward-pipeline.ts";
import type { StageModel } from "./stage-model.ts";

export interface ExecutorGroups {
  tp: Collectives;
  pp: Collectives;
  dp: Collectives;
  /** first and last stage of this (replica, TP rank); absent on middle stages */
  embedding?: Collectives;
}

export interface PipelineExecutorOptions {
  /** this rank's model chunk, or its chunks in order (interleaved: chunk c is virtual stage c·pp + stage) */
  model: StageModel | readonly StageModel[];
  groups: ExecutorGroups;
  schedule: ScheduleKind;
  /** micro-batches per replica per step (the usual count; a step may bring another, e.g. during a batch ramp-up) */
  microbatches: number;
  optimizer?: Partial<AdamWConfig>;
  /** DP all-reduce bucket size (default 4 MiB) */
  bucketBytes?: number;
  /**
   * ZeRO-1: AdamW moments sharded over the DP group (reduce-scatter, shard update, all-gather) instead of buckets; at
   * dp 2 the buckets' all-reduce and a local update of both halves (ml/optim/zero-adamw.ts)
   */
  zero?: boolean;
  /** ZeRO-1 at dp > 2: apply() updates locally; the caller all-gathers the parameters (optimizer.gatherShards) */
  deferGather?: boolean;
}

/** This replica's data for one step (or validation): one array of microBatch·seqLen tokens per micro-batch. */
export interface ReplicaBatch {
  inputs: Int32Array[];
  targets: Int32Array[];
}

export interface ParallelStepResult {
  /** mean loss over the global batch (every replica), the same on every rank */
  loss: number;
  /** global gradient L2 norm before clipping, the same on every rank */
  gradNorm: number;
  clipScale: number;
}

/** What a step with a given number of micro-batches runs: built once per count (schedules are pure functions). */
interface StepProgram {
  instructions: Instruction[];
  /** [chunk, parameter index] in the order the step's last backwards finish them (= DP bucket order) */
  readyOrder: [number, number][];
  /** position in readyOrder by `${parameter index}:${chunk}` */
  position: Map<string, number>;
  /** instruction index of each chunk's last backward */
  lastBackward: number[];
  buckets: GradientBuckets | null;
}

export class PipelineExecutor {
  readonly optimizer: AdamW | ZeroAdamW;
  private readonly chunks: readonly StageModel[];
  private readonly programs = new Map<number, StepProgram>();
  private readonly schedule: ScheduleKind;
  private readonly bucketBytes: number | undefined;
  private readonly g: ExecutorGroups;
  private readonly p: number;
  private readonly stage: number;

  constructor(o: PipelineExecutorOptions) {
    this.chunks = Array.isArray(o.model) ? [...(o.model as readonly StageModel[])] : [o.model as StageModel];
    const v = this.chunks.length;
    this.g = o.groups;
    this.schedule = o.schedule;
    this.bucketBytes = o.bucketBytes;
    this.p = o.groups.pp.size;
    this.stage = o.groups.pp.rank;
    if (v < 1) throw new ParallelModelError("the executor needs at least one model chunk");
    this.chunks.forEach((c, i) => {
      const vs = virtualStageOf(this.stage, i, this.p);
      if (c.stages !== this.p * v || c.stage !== vs) {
        throw new ParallelModelError(
          `model chunk ${i} is stage ${c.stage} of ${c.stages}, expected virtual stage ${vs} of ${this.p * v} (PP group rank ${this.stage} of ${this.p}, ${v} chunk(s))`,
        );
      }
    });
    if (v > 1 && o.schedule !== "interleaved")
      throw new ParallelModelError(`schedule '${o.schedule}' runs one model chunk per stage, got ${v}`);
    const chunks = this.chunks;
    const source = { parameters: () => chunks.flatMap((c) => c.parameters()), gradients: () => chunks.flatMap((c) => c.gradients()) };
    this.optimizer = o.zero
      ? new ZeroAdamW(source, o.optimizer ?? {}, {
          group: o.groups.dp,
          counts: chunks.flatMap((c) => c.countsInGradNorm()),
          deferGather: o.deferGather,
        })
      : new AdamW(source, o.optimizer ?? {});
    this.programFor(o.microbatches); // validates the schedule shape now rather than at the first step
  }

  private programFor(m: number): StepProgram {
    const cached = this.programs.get(m);
    if (cached) return cached;
    const { chunks } = this;
    const instructions = pipelineSchedule(this.schedule, this.p, m, this.stage, chunks.length, "rendezvous");
    const lastBackward = chunks.map((_, c) => instructions.findLastIndex((i) => i.op === "backward" && i.chunk === c));
    // chunks finish in the order of their last backward
    const byFinish = chunks.map((_, c) => c).sort((a, b) => lastBackward[a]! - lastBackward[b]!);
    const readyOrder = byFinish.flatMap((c) => chunks[c]!.gradientReadyOrder().map((i): [number, number] => [c, i]));
    const grads = readyOrder.map(([c, i]) => chunks[c]!.gradients()[i]!.data);
    const dp = this.g.dp;
    const program: StepProgram = {
      instructions,
      readyOrder,
      position: new Map(readyOrder.map(([c, i], pos) => [`${i}:${c}`, pos])),
      lastBackward,
      // ZeRO-1 reduce-scatters after backward, except at dp 2, where it reduces the whole gradient as these do
      buckets:
        dp.size > 1 && !(this.optimizer instanceof ZeroAdamW && !this.optimizer.reducesWhole)
          ? new GradientBuckets(dp, grads, { bucketBytes: this.bucketBytes })
          : null,
    };
    this.programs.set(m, program);
    return program;
  }

  /**
   * Forward and backward of this replica's micro-batches by the schedule, then the tied-embedding and DP gradient
   * all-reduces; stops before the optimizer step. Returns what a coordinator combines (actors/coordinator/combine.ts):
   * `lossSum`, the sum of the micro-batch losses on the last stage's TP rank 0 (0 elsewhere, so summing over all
   * ranks counts each once), and `gradNormSquared` over the tensors this rank counts (shard-spec `primary`).
   */
  async runStep(batch: ReplicaBatch): Promise<{ lossSum: number; gradNormSquared: number }> {
    const { chunks, g, p, stage } = this;
    const m = checkBatch("step", batch);
    const { instructions, readyOrder, position, lastBackward, buckets } = this.programFor(m);
    for (const c of chunks) await c.zeroGrad();
    const key = (mb: number, chunk: number) => `${mb}:${chunk}`;
    const outputs = new Map<string, Float32Array>();
    const received = new Map<string, Float32Array>();
    const gradIn = new Map<string, Float32Array>();
    const gradOut = new Map<string, Float32Array>();
    let lossSum = 0;
    // DP buckets start during each chunk's last backward, as soon as their gradients stop changing
    const marked = new Set<string>();
    const markReady = (chunk: number) => (params: readonly number[]) => {
      for (const i of params) {
        buckets?.markReady(position.get(key(i, chunk))!);
        marked.add(key(i, chunk));
      }
    };
    for (const [at, ins] of instructions.entries()) {
      const vs = "chunk" in ins ? virtualStageOf(stage, ins.chunk, p) : -1;
      switch (ins.op) {
        case "load":
          break; // the whole replica batch is already here
        case "recvActivation":
          received.set(key(ins.microbatch, ins.chunk), await g.pp.recv(ins.peer, `a${ins.microbatch}:${vs}`));
          break;
        case "forward": {
          const mb = ins.microbatch,
            model = chunks[ins.chunk]!,
            k = key(mb, ins.chunk);
          const out = await model.forward(mb, {
            tokens: model.isFirst ? batch.inputs[mb] : undefined,
            activation: received.get(k),
            targets: model.isLast ? batch.targets[mb] : undefined,
            gradScale: 1 / (m * g.dp.size), // the DP all-reduce sums: the mean over every replica's micro-batches
          });
          received.delete(k);
          if (out.activation) outputs.set(k, out.activation);
          if (out.loss !== undefined) lossSum += out.loss;
          break;
        }
        case "sendActivation": {
          const k = key(ins.microbatch, ins.chunk);
          await g.pp.send(outputs.get(k)!, ins.peer, `a${ins.microbatch}:${vs + 1}`);
          outputs.delete(k);
          break;
        }
        case "recvGrad":
          gradOut.set(key(ins.microbatch, ins.chunk), await g.pp.recv(ins.peer, `g${ins.microbatch}:${vs}`));
          break;
        case "backward": {
          const k = key(ins.microbatch, ins.chunk);
          const onFinal = at === lastBackward[ins.chunk] ? markReady(ins.chunk) : undefined;
          const dx = await chunks[ins.chunk]!.backward(ins.microbatch, gradOut.get(k), onFinal);
          gradOut.delete(k);
          if (dx) gradIn.set(k, dx);
          break;
        }
        case "sendGrad": {
          const k = key(ins.microbatch, ins.chunk);
          await g.pp.send(gradIn.get(k)!, ins.peer, `g${ins.microbatch}:${vs - 1}`);
          gradIn.delete(k);
          break;
        }
        case "reduceTiedGrads": {
          const holder = chunks.find((c) => c.isFirst) ?? chunks.find((c) => c.isLast);
          if (g.embedding && g.embedding.size > 1 && holder) await g.embedding.allReduce(holder.store.grad("wte"));
          break;
        }
        case "reduceGrads":
          for (const [c, i] of readyOrder) if (!marked.has(key(i, c))) markReady(c)([i]); // the tied wte copy
          await this.reduceGrads(buckets);
          break;
        case "optimizerStep":
          break; // apply(), once the global norm is known
      }
    }
    return { lossSum: this.countsLoss ? lossSum : 0, gradNormSquared: await this.localGradNormSquared() };
  }

  /** The DP buckets' all-reduce, then ZeRO-1's reduction (which at dp 2 only takes the buckets' sums). */
  private async reduceGrads(buckets: GradientBuckets | null): Promise<void> {
    await buckets?.finish();
    if (this.optimizer instanceof ZeroAdamW) await this.optimizer.reduceGradients({ allReduced: buckets !== null });
  }

  /**
   * Forward only through the pipeline (validation): every micro-batch goes through the stages in order, no
   * gradient changes. Returns the sum of the micro-batch mean losses on the rank that computes the loss (last
   * stage, TP rank 0), 0 on the others, as runStep does.
   */
  async evaluate(batch: ReplicaBatch): Promise<{ lossSum: number }> {
    const m = checkBatch("evaluate", batch);
    let lossSum = 0;
    for (let mb = 0; mb < m; mb++) {
      const out = await forwardThroughPipeline(this.chunks, this.g.pp, `e${mb}`, (model, activation) =>
        model.evaluate({
          tokens: model.isFirst ? batch.inputs[mb] : undefined,
          activation,
          targets: model.isLast ? batch.targets[mb] : undefined,
        }),
      );
      if (out?.loss !== undefined) lossSum += out.loss;
    }
    return { lossSum: this.countsLoss ? lossSum : 0 };
  }

  /** Whether this rank reports the loss: it holds the last stage and is TP rank 0. */
  private get countsLoss(): boolean {
    return this.chunks.some((c) => c.isLast) && this.chunks[0]!.tpRank === 0;
  }

  /** AdamW step with the gradients multiplied by `clipScale`. */
  async apply(lr: number, clipScale: number): Promise<void> {
    await this.optimizer.step(lr, clipScale);
  }

  /**
   * A whole step without a coordinator: runStep, then the loss and the squared norm are all-reduced over the
   * model-parallel ranks of this replica (and the loss over replicas), clip factor, apply.
   */
  async step(batch: ReplicaBatch, lr: number, clip: number): Promise<ParallelStepResult> {
    const { lossSum, gradNormSquared } = await this.runStep(batch);
    // the grads are equal on every replica after the DP all-reduce, so the norm is summed over this replica's
    // (stage, TP rank)s only; the loss over every rank
    const norm = Float32Array.of(gradNormSquared);
    const loss = Float32Array.of(lossSum);
    for (const group of [this.g.tp, this.g.pp]) {
      if (group.size > 1) {
        await group.allReduce(norm);
        await group.allReduce(loss);
      }
    }
    if (this.g.dp.size > 1) await this.g.dp.allReduce(loss);
    const gradNorm = Math.sqrt(norm[0]!);
    if (!Number.isFinite(gradNorm)) throw new ParallelModelError(`gradient norm is ${gradNorm}`);
    const clipScale = clipScaleFor(gradNorm, clip);
    await this.apply(lr, clipScale);
    return { loss: loss[0]! / (batch.inputs.length * this.g.dp.size), gradNorm, clipScale };
  }

  /** Every chunk's parameters, in chunk order (checkpoints). */
  parameters(): NamedTensor[] {
    return this.chunks.flatMap((c) => c.parameters());
  }

  /** Over this rank's tensors; with ZeRO-1 over its shard, summed over the DP group (the same sum on every replica). */
  private async localGradNormSquared(): Promise<number> {
    if (this.optimizer instanceof ZeroAdamW) return this.optimizer.gradNormSquared();
    let sum = 0;
    for (const c of this.chunks) sum += await c.gradNormSquared();
    return sum;
  }
}

/** Number of micro-batches of a replica batch, checked. */
function checkBatch(what: string, batch: ReplicaBatch): number {
  const m = batch.inputs.length;
  if (m < 1 || batch.targets.length !== m) {
    throw new ParallelModelError(
      `${what}: inputs and targets must hold the same number (≥ 1) of micro-batches, got ${m} and ${batch.targets.length}`,
    );
  }
  return m;
}

export function createPipelineExecutor(options: PipelineExecutorOptions): PipelineExecutor {
  return new PipelineExecutor(options);
}
