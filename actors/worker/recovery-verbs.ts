// The recovery verbs of a training rank. A worker of the job was lost: survivors `recover` (abort the step in
// flight, join the communicator of the new epoch, rebuild the compute on it), then a DP peer holding the lost
// shard `sendState`s it to the replacement, which `restore`s it (state-transfer.ts, over the data plane). With no
// live peer for a shard, every rank rolls back to a checkpoint (`loadCheckpoint`). `halt` stops a job after an
// escalation, keeping the state of the last applied step for a final checkpoint.
import type { CollectivesWorld } from "../../runtime/collectives/types.ts";
import { WorkerProtocolError } from "./errors.ts";
import { joinWorld } from "./load.ts";
import {
  gatherShardsRequestSchema,
  reshardRequestSchema,
  haltRequestSchema,
  loadCheckpointRequestSchema,
  recoverRequestSchema,
  restoreRequestSchema,
  sendStateRequestSchema,
  type LoadCheckpointRequest,
  type RecoverReport,
  type RestoreReport,
  type RestoreRequest,
  type SendStateRequest,
} from "./protocol.ts";
import type { Rank, ServedWorker } from "./rank.ts";
import { StateTransferError } from "./errors.ts";
import { receiveState, sendState } from "./state-transfer.ts";
import { notCheckpointing } from "./worker-machine.ts";

export class RecoveryVerbs {
  /**
   * Bumped by every recover and halt: a recovery still joining the communicator of an older epoch (a worker was lost
   * during it, or the job is stopping) sees it changed and gives up that communicator.
   */
  private ticket = 0;

  constructor(private readonly rank: Rank) {}

  serve(served: ServedWorker): void {
    served.serveVerb("recover", recoverRequestSchema, (r) => this.recover(r.epoch, r.replicas));
    served.serveVerb("sendState", sendStateRequestSchema, (r) => this.sendState(r));
    served.serveVerb("restore", restoreRequestSchema, (r) => this.restore(r));
    served.serveVerb("loadCheckpoint", loadCheckpointRequestSchema, (r) => this.rollBack(r));
    served.serveVerb("halt", haltRequestSchema, (r) => this.halt(r.epoch));
    served.serveVerb("gatherShards", gatherShardsRequestSchema, () => this.gatherShards());
    served.serveVerb("reshard", reshardRequestSchema, (r) => this.reshard(r.fresh));
  }

  /**
   * A survivor of a lost worker: finish an apply already started (it is local), abort the step in flight, wait
   * until its compute has settled, then join the communicator of the new epoch and rebuild the compute on it
   * (gradients and activations start afresh; parameters, moments and step count are carried over). Asked again
   * with a newer epoch while still joining (another worker was lost during the recovery), it gives up the older
   * communicator and joins the newer one.
   */
  private async recover(epoch: number, replicas?: readonly number[]): Promise<RecoverReport> {
    const rank = this.rank;
    await this.settle();
    const ticket = ++this.ticket;
    if (rank.matches("idle") || rank.matches("stepping")) rank.send({ type: "RECOVER", epoch });
    else if (!rank.matches("recovering")) throw rank.refuse("recover");
    rank.world.abort(`epoch ${epoch}: a worker of the job was lost`);
    await rank.inFlight?.catch(() => undefined);
    const world = await this.join(epoch, ticket, replicas);
    rank.world = world;
    const old = rank.compute;
    rank.compute = await old.rejoin(world);
    rank.send({ type: "JOINED", epoch });
    rank.send({ type: "RECOVERED" });
    return { applied: rank.appliedStep, optimizerStepCount: old.optimizerStepCount };
  }

  /** The communicator of `epoch`, unless a newer recovery or a halt came while joining it. */
  private async join(epoch: number, ticket: number, replicas?: readonly number[]): Promise<CollectivesWorld> {
    const superseded = () =>
      new WorkerProtocolError(`${this.rank.id}: the recovery of epoch ${epoch} was given up (a newer recovery or a halt came)`);
    let world: CollectivesWorld;
    try {
      world = await joinWorld(this.rank.served.process.connection, this.rank.setup, epoch, this.rank.log, replicas);
    } catch (err) {
      if (ticket !== this.ticket) throw superseded();
      throw err;
    }
    if (ticket !== this.ticket) {
      await world.close().catch(() => undefined);
      throw superseded();
    }
    return world;
  }

  /**
   * The job is stopping after an escalation: finish an apply already started, abort the step in flight or a
   * recovery still joining, and go idle holding the state of the last applied step (its communicator is gone, so
   * only local work follows: a checkpoint, then drain).
   */
  private async halt(epoch: number): Promise<RecoverReport> {
    const rank = this.rank;
    await this.settle();
    if (!rank.matches("idle") && !rank.matches("stepping") && !rank.matches("recovering")) throw rank.refuse("halt");
    this.ticket++;
    rank.world.abort(`epoch ${epoch}: the job is stopping`);
    await rank.inFlight?.catch(() => undefined);
    // a step that had reported ready waits for an apply that will not come; a recovery keeps the state it carried
    if (rank.matches("stepping")) rank.send({ type: "ABORT" });
    if (rank.matches("recovering")) rank.send({ type: "RECOVERED" });
    rank.log.warn({ epoch, applied: rank.appliedStep }, "halted: the job is stopping");
    return { applied: rank.appliedStep, optimizerStepCount: rank.compute.optimizerStepCount };
  }

  /** An apply already started finishes (it is local), and so does a checkpoint's memory copy. */
  private async settle(): Promise<void> {
    if (this.rank.matches("applying")) await this.rank.inFlight?.catch(() => undefined);
    await notCheckpointing(this.rank.served.lifecycle);
  }

  /** A DP peer holding the same shard: sends its state to the replacement at world rank `to`. */
  private async sendState(r: SendStateRequest): Promise<{ sent: number }> {
    if (!this.rank.matches("idle")) throw this.rank.refuse("sendState");
    const part = { params: r.params ?? true, ...(r.zeroShards ? { zeroShards: r.zeroShards } : {}) };
    return { sent: await sendState(this.rank.world, r.to, this.rank.compute, this.rank.appliedStep, part) };
  }

  /** ZeRO-1 with dp > 2, once every worker is back after a recovery: every shard's parameters from its owner. */
  private async gatherShards(): Promise<{ gathered: boolean }> {
    if (!this.rank.matches("idle")) throw this.rank.refuse("gatherShards");
    await this.rank.compute.gatherShards();
    return { gathered: true };
  }

  /** An elastic ZeRO-1 job, every worker back: the moments (and parameters) re-sharded over the live replicas. */
  private async reshard(fresh: boolean): Promise<{ resharded: boolean }> {
    const rank = this.rank;
    if (!rank.matches("idle")) throw rank.refuse("reshard");
    const t0 = performance.now();
    rank.compute = await rank.compute.reshard(fresh);
    rank.log.info({ fresh, seconds: (performance.now() - t0) / 1000 }, "ZeRO-1 moments re-sharded over the live replicas");
    return { resharded: true };
  }

  /** The replacement: receives its state from world rank `from` and goes idle. */
  private async restore(r: RestoreRequest): Promise<RestoreReport> {
    const rank = this.rank;
    if (!rank.matches("restoring")) throw rank.refuse("restore");
    const t0 = performance.now();
    const { step } = await this.receive(r);
    rank.hold(step);
    rank.send({ type: "RESTORED", step });
    const seconds = (performance.now() - t0) / 1000;
    rank.log.info({ from: r.from, step, seconds }, "state restored from a peer");
    return { actorId: rank.id, source: "peer", from: `rank ${r.from}`, step, seconds };
  }

  /** From one peer, or (ZeRO-1 at dp > 2) its parts from each peer in turn: they must hold the same step. */
  private async receive(r: RestoreRequest): Promise<{ step: number }> {
    const { world, compute } = this.rank;
    if (!r.parts) return receiveState(world, r.from, compute);
    let first: { step: number; stepCount: number; from: number } | undefined;
    for (const part of r.parts) {
      const got = await receiveState(world, part.from, compute, part);
      if (first && (got.step !== first.step || got.stepCount !== first.stepCount))
        throw new StateTransferError(
          `rank ${part.from} holds step ${got.step} (optimizer step ${got.stepCount}), rank ${first.from} step ${first.step} (${first.stepCount}): not one state`,
        );
      first ??= { ...got, from: part.from };
    }
    return first!;
  }

  /**
   * No live peer holds a lost shard: every worker (survivor or replacement) loads its slice of the checkpoint and
   * the job continues from that step.
   */
  private async rollBack(r: LoadCheckpointRequest): Promise<RestoreReport> {
    const rank = this.rank;
    if (!rank.matches("idle") && !rank.matches("restoring")) throw rank.refuse("loadCheckpoint");
    const t0 = performance.now();
    const step = rank.compute.loadCheckpoint(r.dir);
    rank.hold(step);
    if (rank.matches("restoring")) rank.send({ type: "RESTORED", step });
    const seconds = (performance.now() - t0) / 1000;
    rank.log.info({ dir: r.dir, step, seconds }, "rolled back to a checkpoint");
    return { actorId: rank.id, source: "checkpoint", from: r.dir, step, seconds };
  }
}
