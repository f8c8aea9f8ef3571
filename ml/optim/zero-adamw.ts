// ZeRO stage 1 (Megatron's distributed optimizer): AdamW whose moments are sharded over the data-parallel group.
// A step reduce-scatters the gradients (each dp rank gets the sum of its 1/dp of the flat buffer, zero-shards.ts),
// updates only that shard of the parameters, and all-gathers the updated shards. The elementwise update of an
// element is the plain AdamW's, on the same reduced gradient (the reduce-scatter combines in group-rank order as
// the all-reduce does), so parameters and moments equal the unsharded run's; only the gradient norm, summed per
// shard, rounds differently.
// Redundancy for recovery without disk: dp rank r also keeps the moments of shard (r + 1) mod dp, its ring
// neighbour's, updated every step from the neighbour's reduced gradient (sent to it after the reduce-scatter), so
// a lost rank's moments live on in its neighbour's memory.
// With dp = 2 the neighbour's shard is the other half, so every rank holds the whole state and needs the whole
// reduced gradient anyway: the reduce-scatter and the send of the reduced half are one all-reduce (the exchange
// of the reduced halves is its gather phase), each rank updates both halves itself, and no all-gather of
// parameters follows. The traffic is plain data parallelism's; what ZeRO-1 keeps at dp 2 is the sharded
// bookkeeping (the own/backup shards that checkpoints and peer restore move), not less memory.
// An elastic resize (dp 2 → 1 → 2) re-shards the moments from those a rank holds (resharded): whole at dp ≤ 2.
// With dp > 2 and `deferGather` (the worker's way), step() is local only: own shard and backup, no communication,
// so an apply is whole even when a peer is lost during it, as at dp 2; gatherShards() then all-gathers the updated
// parameters. A gather broken by a loss leaves other ranks' regions of the parameters at the previous step: the
// recovery patches the neighbour's region from the backup copy (patchBackupParams) and gathers again
// (gatherShards) once every rank is back. Checkpoints at dp > 2 are sharded: each rank writes the parameters and
// moments of its shard (shardTensors), as Megatron's distributed optimizer writes its fully sharded format.
import type { Backend } from "../../native/backend.ts";
import { nativeBackend } from "../../native/native-backend.ts";
import { KernelProgram } from "../../native/ops.ts";
import type { Collectives } from "../../runtime/collectives/types.ts";
import { decaysWeight } from "../model/param-layout.ts";
import type { AdamWConfig, NamedTensor, Optimizer } from "../model/types.ts";
import { adamwConfig, checkStepArgs, type ParameterSource } from "./adamw.ts";
import { OptimizerError } from "./errors.ts";
import { flatOffsets, inShard, momentTensors, shardOf, type Segment, type Shard, type ShardTensorPiece } from "./zero-shards.ts";

const BACKUP_TAG = "zero-backup";

export interface ZeroAdamWOptions {
  /** the data-parallel group of this rank's (stage, tensor shard) */
  group: Collectives;
  /** per parameter, whether its gradient counts toward the global norm on this rank (default: all) */
  counts?: readonly boolean[];
  backend?: Backend;
  /** dp > 2: step() updates locally and leaves the all-gather of parameters to gatherShards() */
  deferGather?: boolean;
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
  /** the backup's scratch parameters hold its shard after the latest local update (dp > 2) */
  private backupFresh = false;

  constructor(source: ParameterSource, config: Partial<AdamWConfig>, o: ZeroAdamWOptions) {
    this.config = adamwConfig(config);
    this.group = o.group;
    this.backend = o.backend ?? nativeBackend;
    this.deferGather = o.deferGather ?? false;
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

  /**
   * These moments on `group`: the same rank of a group of the same size (a recovery's epoch) takes them as they are
   * (bind); another size or position (an elastic resize) gets them re-sharded (resharded).
   */
  on(group: Collectives): ZeroAdamW {
    if (group.size === this.group.size && group.rank === this.group.rank) {
      this.bind(group);
      return this;
    }
    return this.resharded(group);
  }

  /**
   * A ZeRO-1 optimizer over `group` (another dp size or position: an elastic shrink or grow) with these moments and
   * step count: assembled whole from the shards this rank holds, as a gathered checkpoint is (fullState), then cut
   * into the new layout's shards (loadFullState). Every shard must be here: the group is of dp ≤ 2.
   */
  resharded(group: Collectives): ZeroAdamW {
    if (this.group.size > 2) {
      throw new OptimizerError(
        `ZeRO-1 at dp ${this.group.size} cannot re-shard to dp ${group.size} live: a rank holds 2 of the ${this.group.size} shards of the moments (dp ≤ 2 only)`,
      );
    }
    const source = { parameters: () => this.params, gradients: () => this.grads };
    const next = new ZeroAdamW(source, this.config, { group, counts: this.counts, backend: this.backend, deferGather: this.deferGather });
    next.loadFullState(this.fullState());
    next.stepCount = this.stepCount;
    return next;
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
  private async shardSquares(...shards: Shard[]): Promise<number[]> {
    const program = new KernelProgram();
    const counted = shards.map((shard) => {
      const grad = this.reduced(shard);
      const segs = shard.segments.filter((s) => this.counts[s.tensor]);
      for (const s of segs) program.add("sumSquares", { x: grad(s), n: s.end - s.start });
      return segs.length;
    });
    const results = await program.run(this.backend);
    let at = 0;
    return counted.map((k) => {
      let sum = 0;
      for (const r of results.slice(at, (at += k))) sum += r;
      return sum;
    });
  }

  async gradNorm(): Promise<number> {
    return Math.sqrt(await this.gradNormSquared());
  }

  /**
   * AdamW on this rank's shard and on the backup shard (local), then the all-gather of the updated shards. With
   * dp = 2 the backup is the only other shard and is updated in place: the step needs no communication, so it is
   * applied whole even when the peer is lost after the reduction, and a recovery finds this rank at this step.
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

  /** The moments the rank at dp position `peer` holds (its shard, then its neighbour's), from what this rank holds. */
  stateFor(peer: number): NamedTensor[] {
    const n = this.group.size;
    return [peer, (peer + 1) % n].slice(0, n).flatMap((index) => momentTensors(this.held(index), `zero.shard${index}`));
  }

  /** stateFor the dp rank that is world rank `worldRank`. */
  stateForRank(worldRank: number): NamedTensor[] {
    const i = this.group.ranks.indexOf(worldRank);
    if (i < 0)
      throw new OptimizerError(`world rank ${worldRank} is not in this rank's data-parallel group [${this.group.ranks.join(", ")}]`);
    return this.stateFor(i);
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
    const scratch = s === this.backup && this.backupFresh ? this.backup.params : undefined;
    return s.segments.map((seg) => {
      const n = seg.end - seg.start;
      const p = this.params[seg.tensor]!;
      return {
        name: p.name,
        localShape: p.shape,
        start: seg.start,
        end: seg.end,
        param: scratch ? scratch.subarray(seg.at, seg.at + n) : this.params[seg.tensor]!.data.subarray(seg.start, seg.end),
        expAvg: s.expAvg.subarray(seg.at, seg.at + n),
        expAvgSq: s.expAvgSq.subarray(seg.at, seg.at + n),
      };
    });
  }

  /** Whole moments per parameter (named as AdamW.state()'s), assembled from the shards held: every shard must be. */
  fullState(): NamedTensor[] {
    const out = this.fullStateTemplate();
    for (let i = 0; i < this.group.size; i++) {
      const s = this.held(i);
      this.eachSegment(s, out, (seg, m, v) => {
        m.set(s.expAvg.subarray(seg.at, seg.at + seg.end - seg.start), seg.start);
        v.set(s.expAvgSq.subarray(seg.at, seg.at + seg.end - seg.start), seg.start);
      });
    }
    return out;
  }

  /** Zero tensors shaped and named as the whole moments (to load a checkpoint into, then loadFullState). */
  fullStateTemplate(): NamedTensor[] {
    return this.params.flatMap((p) => [
      { name: `${p.name}.exp_avg`, shape: [...p.shape], data: new Float32Array(p.data.length) },
      { name: `${p.name}.exp_avg_sq`, shape: [...p.shape], data: new Float32Array(p.data.length) },
    ]);
  }

  /** Takes this rank's shards out of whole moments (fullStateTemplate's order). */
  loadFullState(full: readonly NamedTensor[]): void {
    this.backupFresh = false;
    for (const s of [this.own, this.backup]) {
      if (!s) continue;
      this.eachSegment(s, full, (seg, m, v) => {
        s.expAvg.set(m.subarray(seg.start, seg.end), seg.at);
        s.expAvgSq.set(v.subarray(seg.start, seg.end), seg.at);
      });
    }
  }

  private eachSegment(s: Shard, full: readonly NamedTensor[], f: (seg: Segment, m: Float32Array, v: Float32Array) => void) {
    for (const seg of s.segments) f(seg, full[2 * seg.tensor]!.data, full[2 * seg.tensor + 1]!.data);
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
