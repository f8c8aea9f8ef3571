// Test-only fault injection: a job spec's `faults` list makes a worker signal itself (SIGKILL, or SIGSTOP for a
// hang) at a precise phase of a step, so recovery tests hit each phase for real. Phases:
//   join      — while the worker loads (step 0), before it joins the communicator;
//   load      — while the worker loads (step 0), after it joined the communicator, before the model is built;
//   forward   — the step request arrived, before any compute;
//   backward  — the first gradient sent or received between pipeline stages (pp > 1 only);
//   allreduce — the first DP gradient reduction of the step (dp > 1 only);
//   apply     — the apply request arrived, before the optimizer step.
// `once` (default) fires only in a process of the job's first epoch, so the replacement does not repeat it;
// `every` fires in every process (a crash loop); `replacement` only in processes started in a later epoch (a
// replacement that never comes up: an elastic job shrinks instead).
import { z } from "zod";
import type { RankGroups } from "../../ml/parallel/rank-groups.ts";
import type { Collectives, ReduceOp } from "../../runtime/collectives/types.ts";

export const faultSchema = z.object({
  rank: z.number().int().min(0),
  step: z.number().int().min(0),
  phase: z.enum(["join", "load", "forward", "backward", "allreduce", "apply"]),
  signal: z.enum(["SIGKILL", "SIGSTOP"]).default("SIGKILL"),
  repeat: z.enum(["once", "every", "replacement"]).default("once"),
  /**
   * Only in processes started before the job's data-parallel size first changed (no TROUPE_DP_REPLICAS): the
   * replacements of a lost replica hang until the job shrinks, the worker a later grow starts does not.
   */
  untilResized: z.boolean().optional(),
});
export type Fault = z.infer<typeof faultSchema>;
/** A fault as written in job.json (signal and repeat may be left out). */
export type FaultSpec = z.input<typeof faultSchema>;
export type FaultPhase = Fault["phase"];

export class FaultInjector {
  private readonly mine: Fault[];

  constructor(faults: readonly Fault[], rank: number, bootEpoch: number, resized: boolean) {
    const fires = { once: bootEpoch <= 1, every: true, replacement: bootEpoch > 1 };
    this.mine = faults.filter((f) => f.rank === rank && fires[f.repeat] && !(f.untilResized && resized));
  }

  get active(): boolean {
    return this.mine.length > 0;
  }

  /** Signals this process when a fault names this phase of `step`. */
  at(phase: FaultPhase, step: number): void {
    const f = this.mine.find((x) => x.phase === phase && x.step === step);
    if (f) process.kill(process.pid, f.signal);
  }

  /** The groups, with the backward (pp gradient send/recv) and allreduce (dp reduction) phases hooked. */
  wrapGroups(groups: RankGroups, step: () => number): RankGroups {
    if (!this.active) return groups;
    return {
      ...groups,
      pp: this.hooked(groups.pp, "backward", step, (tag) => tag?.startsWith("g") === true),
      dp: this.hooked(groups.dp, "allreduce", step, () => true),
    };
  }

  /** A world or group whose reductions (and, when `p2p` says so, point-to-point by tag) hit `phase` first. */
  hooked<C extends Collectives>(c: C, phase: FaultPhase, step: () => number, p2p: (tag: string | undefined) => boolean): C {
    if (!this.active) return c;
    const hit = () => this.at(phase, step());
    return new Proxy(c, {
      get: (target, prop, receiver) => {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== "function") return value;
        const fn = value as (...args: unknown[]) => unknown;
        if (phase === "allreduce" && (prop === "allReduce" || prop === "reduceScatter")) {
          return (data: Float32Array, op?: ReduceOp) => (hit(), fn.call(target, data, op));
        }
        if (prop === "send" || prop === "recv") {
          return (...args: unknown[]) => {
            if (p2p(args[prop === "send" ? 2 : 1] as string | undefined) && phase === "backward") hit();
            return fn.apply(target, args);
          };
        }
        return fn.bind(target);
      },
    });
  }
}
