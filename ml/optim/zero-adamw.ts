// ZeRO stage 1 (Megatron's distributed optimizer): AdamW whose moments are sharded over the data-parallel group
// (docs/guide/zero.md). A step reduce-scatters the gradients (zero-shards.ts), updates only this rank's shard, and
// all-gathers the updated parameters; every element's update is plain AdamW's on the same reduced gradient, so
// parameters and moments equal the unsharded run's (the gradient norm, summed per shard, rounds differently).
// Redundancy for recovery without disk: dp rank r also keeps shard (r + 1) mod dp, updated every step from the
// reduced gradient its owner sends, so a lost rank's moments live on in its neighbour's memory.
// dp 2: the neighbour's shard is the other half, so the reduction is one all-reduce, each rank updates both halves
// and no gather follows (plain data parallelism's traffic; no memory saved). dp > 2 with `deferGather`: step() is
// local and gatherShards() follows it; a gather a loss broke is made good by patchBackupParams then gatherShards.
// Elastic resizes: resharded from what a rank holds (whole at dp ≤ 2), or reshardOn with every member (zero-reshard.ts).
import type { Backend } from "../../native/backend.ts";
import { nativeBackend } from "../../native/native-backend.ts";
import { KernelProgram } from "../../native/ops.ts";
import type { Collectives } from "../../runtime/collectives/types.ts";
import { decaysWeight } from "../model/param-layout.ts";
import type { AdamWConfig, NamedTensor, Optimizer } from "../model/types.ts";
import { adamwConfig, checkStepArgs, type ParameterSource } from "./adamw.ts";
import { OptimizerError } from "./errors.ts";
import { exchangeWholeState, exportRange } from "./zero-reshard.ts";
import {
  cutMoments,
  flatOffsets,
  inShard,
  momentTensors,
  shardOf,
  shardPieces,
  sumSquaresPerShard,
  wholeMoments,
  type Segment,
  type Shard,
  type ShardTensorPiece,
} from "./zero-shards.ts";

const BACKUP_TAG = "zero-backup";

export interface ZeroAdamWOptions {
  /** the data-parallel group of this rank's (stage, tensor shard) */
  group: Collectives;
  /** per parameter, whether its gradient counts toward the global norm on this rank (default: all) */
  counts?: readonly boolean[];
  backend?: Backend;
  /** dp > 2: step() updates locally and leaves the all-gather of parameters to gatherShards() */
  deferGather?: boolean;
  /**
   * An elastic job: on a group of another size or order the moments wait for reshardOn, which every member of the
   * new group runs together, instead of being re-sharded from what this rank holds (resharded, dp ≤ 2 only).
   */
  reshardsLive?: boolean;
}

export class ZeroAdamW implements Optimizer {
  stepCount = 0;
  readonly config: AdamWConfig;
  private group: Collectives;
  private readonly params: NamedTensor[];
  private readonly grads: NamedTensor[];
  private readonly offsets: number[];
  private readonly flat: Float32Array;
  private readonly counts: readonly boolean[];
  private readonly own: Shard;
  /** the ring neighbour's shard (dp > 1), with the parameters this rank updates alongside it */
  private readonly backup: (Shard & { params: Float32Array }) | undefined;
  private readonly backend: Backend;
  private readonly deferGather: boolean;
  private readonly reshardsLive: boolean;
  /** the group of an elastic resize, until reshardOn builds the optimizer of its layout */
  private pendingGroup: Collectives | undefined;
  /** the backup's scratch parameters hold its shard after the latest local update (dp > 2) */
  private backupFresh = false;

  constructor(source: ParameterSource, config: Partial<AdamWConfig>, o: ZeroAdamWOptions) {
    this.config = adamwConfig(config);
    this.group = o.group;
    this.backend = o.backend ?? nativeBackend;
    this.deferGather = o.deferGather ?? false;
    this.reshardsLive = o.reshardsLive ?? false;
    this.params = source.parameters();
    this.grads = source.gradients();
    if (this.params.length !== this.grads.length)
      throw new OptimizerError(`${this.params.length} parameters but ${this.grads.length} gradients`);
    this.grads.forEach((g, i) => {
      if (g.data.length !== this.params[i]!.data.length)
        throw new OptimizerError(`gradient ${i} ('${g.name}') does not match its parameter`);
    });
    this.counts = o.counts ?? this.params.map(() => true);
    if (this.counts.length !== this.params.length)
      throw new OptimizerError(`${this.counts.length} norm flags for ${this.params.length} parameters`);
    const lengths = this.params.map((p) => p.data.length);
    const { offsets, total } = flatOffsets(lengths);
    this.offsets = offsets;
    this.flat = new Float32Array(total);
    const { rank, size } = o.group;
    this.own = shardOf(lengths, size, rank);
    if (size > 1) {
      const b = shardOf(lengths, size, (rank + 1) % size);
      // dp > 2 updates the neighbour's parameters in a scratch copy (the gather brings the owner's); dp 2 in place
      this.backup = { ...b, params: new Float32Array(size > 2 ? b.end - b.start : 0) };
    }
  }

  /** The same data-parallel position on a new communicator (a recovery's epoch). */
  bind(group: Collectives): void {
    if (group.size !== this.group.size || group.rank !== this.group.rank) {
      throw new OptimizerError(
        `ZeRO-1 state of dp rank ${this.group.rank} of ${this.group.size} cannot move to rank ${group.rank} of ${group.size}`,
      );
    }
    this.group = group;
  }

  /** These moments on `group`: as they are (bind), re-sharded (resharded), or waiting for reshardOn (reshardsLive). */
  on(group: Collectives): ZeroAdamW {
    if (group.size === this.group.size && group.rank === this.group.rank) {
      this.bind(group);
      return this;
    }
    if (this.reshardsLive) {
      this.pendingGroup = group;
      return this;
    }
    return this.resharded(group);
  }

  /** These moments and step count on `group` (an elastic resize at dp ≤ 2: every shard is here), via fullState. */
  resharded(group: Collectives): ZeroAdamW {
    if (this.group.size > 2) {
      throw new OptimizerError(
        `ZeRO-1 at dp ${this.group.size} cannot re-shard to dp ${group.size} live: a rank holds 2 of the ${this.group.size} shards of the moments (dp ≤ 2 only)`,
      );
    }
    const next = this.sibling(group);
    next.loadFullState(this.fullState());
    next.stepCount = this.stepCount;
    return next;
  }

  /**
   * Moments and parameters re-sharded over `group` (an elastic resize at any dp), every member taking part
   * (zero-reshard.ts; `fresh`: a new replica, holding nothing). A gather a loss broke is made good too.
   */
  async reshardOn(group: Collectives, o: { fresh: boolean }): Promise<ZeroAdamW> {
    const held = [this.own, ...(this.backup ? [this.backup] : [])].filter((s) => s.end > s.start);
    const { whole, stepCount } = await exchangeWholeState(group, {
      stepCount: this.stepCount,
      total: this.flat.length,
      ranges: o.fresh ? [] : held.map((s) => [s.start, s.end]),
      exportRange: (start, end) => {
        const s = held.find((x) => x.start <= start && end <= x.end);
        if (!s) throw new OptimizerError(`ZeRO-1 re-shard: range [${start}, ${end}) is not in a shard this rank holds`);
        return exportRange(s, this.shardTensors(s.index), start, end);
      },
    });
    const next = this.sibling(group);
    for (const [i, p] of this.params.entries()) p.data.set(whole.params.subarray(this.offsets[i], this.offsets[i]! + p.data.length));
    for (const s of [next.own, next.backup]) s?.expAvg.set(whole.m.subarray(s.start, s.end));
    for (const s of [next.own, next.backup]) s?.expAvgSq.set(whole.v.subarray(s.start, s.end));
    next.stepCount = stepCount;
    return next;
  }

  /** A ZeRO-1 optimizer of the same parameters and settings over `group`, its moments zero. */
  private sibling(group: Collectives): ZeroAdamW {
    const { counts, backend, deferGather, reshardsLive } = this;
    return new ZeroAdamW({ parameters: () => this.params, gradients: () => this.grads }, this.config, {
      group,
      counts,
      backend,
      deferGather,
      reshardsLive,
    });
  }

  /**
   * With dp = 2 the whole gradient is reduced (see the header), so a caller may all-reduce the gradients itself,
   * e.g. in buckets overlapping backward, and then call reduceGradients({ allReduced: true }).
   */
  get reducesWhole(): boolean {
    return this.group.size === 2;
  }

  /**
   * Reduce-scatter of the step's gradients; the neighbour's reduced shard comes from it for the backup moments.
   * `allReduced`: the gradients already hold their sum over the group (only where reducesWhole).
   */
  async reduceGradients(o: { allReduced?: boolean } = {}): Promise<void> {
    const { group } = this;
    if (this.pendingGroup)
      throw new OptimizerError(
        `ZeRO-1: the replicas changed (dp ${group.size} → ${this.pendingGroup.size}); the moments must be re-sharded first`,
      );
    if (o.allReduced && !this.reducesWhole)
      throw new OptimizerError(`ZeRO-1 at dp ${group.size}: the gradients must be reduce-scattered here, not all-reduced`);
    const inTensors = (s: Segment) => this.grads[s.tensor]!.data.subarray(s.start, s.end);
    if (group.size === 1 || o.allReduced) {
      // the gradient tensors hold the sum already: read in place
      for (const shard of [this.own, this.backup]) if (shard) shard.grad = inTensors;
      return;
    }
    for (const [i, g] of this.grads.entries()) this.flat.set(g.data, this.offsets[i]);
    if (group.size === 2) {
      // combines x0 + x1 as the reduce-scatter does; each rank gets both halves
      await group.allReduce(this.flat);
      for (const shard of [this.own, this.backup!]) shard.grad = inShard(this.flat.subarray(shard.start, shard.end));
      return;
    }
    const mine = await group.reduceScatter(this.flat);
    this.own.grad = inShard(mine);
    const n = group.size;
    const [, got] = await Promise.all([
      group.send(mine, (group.rank + n - 1) % n, BACKUP_TAG),
      group.recv((group.rank + 1) % n, BACKUP_TAG),
    ]);
    const backup = this.backup!;
    if (got.length !== backup.end - backup.start)
      throw new OptimizerError(`backup gradient of ${got.length} values, expected ${backup.end - backup.start}`);
    backup.grad = inShard(got);
  }

  /** Squared norm of the reduced gradient (the tensors `counts` marks), summed over the group: the same on every dp rank. */
  async gradNormSquared(): Promise<number> {
    if (this.group.size === 1) return (await this.shardSquares(this.own))[0]!;
    // per shard, a double as two fp32 (the wire format of the gather), added in shard order on every rank
    const split = (x: number) => [Math.fround(x), x - Math.fround(x)];
    const parts =
      this.group.size === 2 // both halves are here: no gather needed
        ? Float32Array.from((await this.shardSquares(...[this.own, this.backup!].sort((a, b) => a.index - b.index))).flatMap(split))
        : await this.group.allGather(Float32Array.from(split((await this.shardSquares(this.own))[0]!)));
    let total = 0;
    for (let i = 0; i < parts.length; i += 2) total += parts[i]! + parts[i + 1]!;
    return total;
  }

  /** Squared norm of each shard's reduced gradient, over the tensors `counts` marks (one kernel program). */
  private shardSquares(...shards: Shard[]): Promise<number[]> {
    return sumSquaresPerShard(
      this.backend,
      this.counts,
      shards.map((shard) => ({ shard, grad: this.reduced(shard) })),
    );
  }

  async gradNorm(): Promise<number> {
    return Math.sqrt(await this.gradNormSquared());
  }

  /**
   * AdamW on this rank's shard and on the backup shard: local, so it is applied whole even when a peer is lost
   * meanwhile. At dp 2 the backup is updated in place; above, in a scratch copy, and the all-gather follows (here,
   * or in gatherShards with deferGather).
   */
  async step(lr: number, gradScale: number): Promise<void> {
    checkStepArgs(lr, gradScale);
    const step = this.stepCount + 1;
    const program = new KernelProgram();
    const inPlace = (s: Segment) => this.params[s.tensor]!.data.subarray(s.start, s.end);
    this.addUpdates(program, this.own, inPlace, lr, gradScale, step);
    const backup = this.backup;
    if (backup && this.group.size === 2) this.addUpdates(program, backup, inPlace, lr, gradScale, step);
    else if (backup) {
      for (const s of backup.segments) backup.params.set(this.params[s.tensor]!.data.subarray(s.start, s.end), s.at);
      this.addUpdates(program, backup, (s) => backup.params.subarray(s.at, s.at + s.end - s.start), lr, gradScale, step);
    }
    await program.run(this.backend);
    this.stepCount = step;
    this.own.grad = undefined;
    if (backup) backup.grad = undefined;
    this.backupFresh = this.group.size > 2;
    if (this.group.size > 2 && !this.deferGather) await this.gatherShards();
  }

  /** dp > 2: the step's parameters leave their shards' owners for every rank (the all-gather of ZeRO-1). */
  get gathers(): boolean {
    return this.group.size > 2;
  }

  /**
   * dp > 2: the neighbour's region of the parameters from the backup copy, when it holds the latest update (a gather
   * broken by a loss left it at the previous step). Every survivor does this before it rejoins: the lost rank's
   * region then lives, updated, in its donor's parameters.
   */
  patchBackupParams(): void {
    const backup = this.backup;
    if (!backup || !this.backupFresh) return;
    for (const s of backup.segments) this.params[s.tensor]!.data.set(backup.params.subarray(s.at, s.at + s.end - s.start), s.start);
  }

  private addUpdates(
    program: KernelProgram,
    shard: Shard,
    paramOf: (s: Segment) => Float32Array,
    lr: number,
    gradScale: number,
    step: number,
  ): void {
    const grad = this.reduced(shard);
    const { beta1, beta2, eps, weightDecay } = this.config;
    for (const s of shard.segments) {
      const n = s.end - s.start;
      const decay = decaysWeight(this.params[s.tensor]!.shape);
      program.add("adamw", {
        param: paramOf(s),
        grad: grad(s),
        expAvg: shard.expAvg.subarray(s.at, s.at + n),
        expAvgSq: shard.expAvgSq.subarray(s.at, s.at + n),
        n,
        lr,
        beta1,
        beta2,
        eps,
        weightDecay: decay ? weightDecay : 0,
        gradScale,
        step,
      });
    }
  }

  private reduced(shard: Shard): (s: Segment) => Float32Array {
    if (!shard.grad) throw new OptimizerError("ZeRO-1: no reduced gradient this step (reduceGradients first)");
    return shard.grad;
  }

  /** All-gather of the shards' parameters from their owners (dp > 2). */
  async gatherShards(): Promise<void> {
    const mine = new Float32Array(this.own.end - this.own.start);
    for (const s of this.own.segments) mine.set(this.params[s.tensor]!.data.subarray(s.start, s.end), s.at);
    const full = await this.group.allGather(mine);
    for (const [i, p] of this.params.entries()) p.data.set(full.subarray(this.offsets[i], this.offsets[i]! + p.data.length));
  }

  /** This rank's moments: its own shard's, then its neighbour's (the state a same-rank copy carries over). */
  state(): NamedTensor[] {
    return [this.own, ...(this.backup ? [this.backup] : [])].flatMap((s) => momentTensors(s, `zero.shard${s.index}`));
  }

  /** The moments the dp rank that is world rank `worldRank` holds (its shard, then its neighbour's), from this rank's. */
  stateForRank(worldRank: number): NamedTensor[] {
    const { ranks, size: n } = this.group;
    const peer = ranks.indexOf(worldRank);
    if (peer < 0) throw new OptimizerError(`world rank ${worldRank} is not in this rank's data-parallel group [${ranks.join(", ")}]`);
    return this.momentsOf([peer, (peer + 1) % n].slice(0, n));
  }

  private held(index: number): Shard {
    const s = [this.own, this.backup].find((x) => x?.index === index);
    if (!s) {
      throw new OptimizerError(
        `ZeRO-1: dp rank ${this.own.index} of ${this.group.size} holds the moments of shards ${this.own.index} and ${this.backup?.index}, not ${index}`,
      );
    }
    return s;
  }

  /** The moments of the shards `indices` (each held here), as state() names them: what a replacement takes from this rank. */
  momentsOf(indices: readonly number[]): NamedTensor[] {
    return indices.flatMap((index) => momentTensors(this.held(index), `zero.shard${index}`));
  }

  /**
   * What a sharded checkpoint holds of shard `index` (held here): per tensor piece, its parameter values (from the
   * backup's scratch copy when that holds the latest update) and both moments.
   */
  shardTensors(index: number): ShardTensorPiece[] {
    const s = this.held(index);
    return shardPieces(this.params, s, s === this.backup && this.backupFresh ? this.backup.params : undefined);
  }

  /** Whole moments per parameter (named as AdamW.state()'s), assembled from the shards held: every shard must be. */
  fullState(): NamedTensor[] {
    return wholeMoments(
      this.params,
      Array.from({ length: this.group.size }, (_, i) => this.held(i)),
    );
  }

  /** Zero tensors shaped and named as the whole moments (to load a checkpoint into, then loadFullState). */
  fullStateTemplate(): NamedTensor[] {
    return wholeMoments(this.params, []);
  }

  /** Takes this rank's shards out of whole moments (fullStateTemplate's order). */
  loadFullState(full: readonly NamedTensor[]): void {
    this.backupFresh = false;
    for (const s of [this.own, this.backup]) if (s) cutMoments(full, s);
  }

  /** Bytes of moments this rank holds for its own shard, and for its neighbour's. */
  get stateBytes(): { own: number; backup: number } {
    return { own: 8 * (this.own.end - this.own.start), backup: this.backup ? 8 * (this.backup.end - this.backup.start) : 0 };
  }
}

/** An optimizer whose moments are sharded (ZeRO-1). */
export function isZero(o: Optimizer): o is ZeroAdamW {
  return o instanceof ZeroAdamW;
}
