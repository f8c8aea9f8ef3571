// The step verbs of a training rank: step(k) runs its micro-batches and the gradient reductions and reports
// ready(k); apply(k, clip) takes the optimizer step; validate measures the held-out loss. Each is idempotent per
// (epoch, step): asked again after a lost request or reply (a nats-server restart), it gives the same answer and
// does the work once.
import { ReplyMemo } from "../../runtime/rpc.ts";
import {
  applyRequestSchema,
  stepRequestSchema,
  validateRequestSchema,
  type AppliedReport,
  type ApplyRequest,
  type ReadyReport,
  type StepRequest,
  type ValidateRequest,
} from "./protocol.ts";
import type { Rank, ServedWorker } from "./rank.ts";

export class StepVerbs {
  private readonly replies = new ReplyMemo();

  constructor(private readonly rank: Rank) {}

  serve(served: ServedWorker): void {
    served.serveVerb("step", stepRequestSchema, (r) => this.replies.run(`step:${r.epoch}:${r.step}`, () => this.step(r)));
    served.serveVerb("apply", applyRequestSchema, (r) => this.replies.run(`apply:${r.epoch}:${r.step}`, () => this.apply(r)));
    served.serveVerb("validate", validateRequestSchema, (r) => this.replies.run(`validate:${r.epoch}:${r.step}`, () => this.validate(r)));
  }

  private async step(r: StepRequest): Promise<ReadyReport> {
    const rank = this.rank;
    if (!rank.matches("idle")) throw rank.refuse(`step ${r.step}`);
    rank.send({ type: "STEP", step: r.step, epoch: r.epoch });
    rank.served.process.step = r.step;
    try {
      rank.setup.faults.at("forward", r.step);
      const running = rank.compute.runStep(r);
      rank.inFlight = running;
      const out = await running;
      rank.send({ type: "READY" });
      const { lossSum, gradNormSquared, nonFinite, busyMs } = out;
      // what the collectives moved since the last report: this step's reductions and the previous apply's
      const collective = rank.setup.collectives.take();
      const collectiveTotal = rank.setup.collectives.total();
      return { step: r.step, epoch: rank.served.process.epoch, lossSum, gradNormSquared, nonFinite, busyMs, collective, collectiveTotal };
    } catch (err) {
      rank.send({ type: "ABORT" });
      throw err;
    }
  }

  private async apply(r: ApplyRequest): Promise<AppliedReport> {
    const rank = this.rank;
    const at = rank.served.lifecycle.getSnapshot().context.step;
    if (!rank.matches("stepping") || at !== r.step) throw rank.refuse(`apply(${r.step})`, ` at step ${at}`);
    rank.send({ type: "APPLY" });
    try {
      rank.setup.faults.at("apply", r.step);
      // skip: every rank drops this step's gradients (zeroed at the next step's start) and the optimizer does not step
      const applying = r.skip ? Promise.resolve() : rank.compute.apply(r.lr, r.clipScale);
      rank.inFlight = applying;
      await applying;
      rank.appliedStep = r.step;
    } catch (err) {
      rank.send({ type: "ABORT" });
      throw err;
    }
    rank.send({ type: "APPLIED" });
    if (!r.skip) {
      // ZeRO-1 at dp > 2: the updated shards go to every rank after the (local) apply, which stands even when a peer
      // is lost during this gather (the recovery patches and gathers again: actors/coordinator/peer-restore.ts)
      const gathering = rank.compute.gatherShards();
      rank.inFlight = gathering;
      await gathering;
    }
    return { step: r.step, epoch: rank.served.process.epoch };
  }

  private async validate(r: ValidateRequest): Promise<{ loss: number }> {
    if (!this.rank.matches("idle")) throw this.rank.refuse("validation");
    return { loss: await this.rank.compute.validationLoss(r.batches, r.microBatch, r.step) };
  }
}
