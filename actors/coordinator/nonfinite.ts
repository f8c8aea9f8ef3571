// NaN/inf in a step: which step is skipped and which actor is named for it, and when an actor that keeps
// producing them should be restarted. Pure (the coordinator publishes the events; step-health.ts).
//
// Attribution rule: workers that saw non-finite values in their own LOCAL gradients or loss (ready.nonFinite, measured
// before any reduction) are the suspects; without such evidence (e.g. a NaN seen only after a reduction), every
// worker whose reported loss or gradient norm² is non-finite is. Of the suspects the one named is the lowest pipeline
// stage, then the lowest world rank: activations flow forward from stage 0, so the first stage that went non-finite
// is where it started, and later stages only inherited it.
//
// Example, pp 2 × dp 2: ready from rank 0 (d0 p0) finite, rank 1 (d1 p0) nonFinite, rank 2 (d0 p1) nonFinite,
// rank 3 (d1 p1) finite → suspects ranks 1 and 2 → named: rank 1 (stage 0).
import { NonFiniteOptionsError } from "./errors.ts";
import type { Coordinates } from "../../runtime/types.ts";

export interface FinitenessReport {
  id: string;
  coords: Coordinates;
  lossSum: number;
  gradNormSquared: number;
  /** The worker's own gradients or loss were non-finite before any reduction (absent: not measured). */
  nonFinite?: boolean;
}

export interface NonFiniteVerdict {
  step: number;
  /** The actor named for the skipped step (attribution rule above). */
  offender: string;
  /** Every suspect, in attribution order. */
  suspects: string[];
  /** "local gradients or loss" when a worker measured it itself, else "reported loss or gradient norm". */
  evidence: "local gradients or loss" | "reported loss or gradient norm";
}

/** The verdict when step `step` must be skipped by every rank, undefined when all reports are finite. */
export function findNonFinite(step: number, reports: readonly FinitenessReport[]): NonFiniteVerdict | undefined {
  const local = reports.filter((r) => r.nonFinite === true);
  const reported = reports.filter((r) => !Number.isFinite(r.lossSum) || !Number.isFinite(r.gradNormSquared));
  const suspects = local.length > 0 ? local : reported;
  if (suspects.length === 0) return undefined;
  const order = (r: FinitenessReport) => [r.coords.p ?? 0, r.coords.rank ?? r.coords.d ?? 0] as const;
  const sorted = [...suspects].sort((a, b) => order(a)[0] - order(b)[0] || order(a)[1] - order(b)[1]);
  return {
    step,
    offender: sorted[0]!.id,
    suspects: sorted.map((r) => r.id),
    evidence: local.length > 0 ? "local gradients or loss" : "reported loss or gradient norm",
  };
}

/**
 * Remembers the steps each actor was named for; an actor named again within `windowSteps` steps of its previous
 * offence should be restarted (then its history starts over).
 *
 * Example, window 10: named at step 3 → false; at step 20 → false (17 steps later); at step 25 → true.
 */
export class RepeatOffenders {
  private readonly last = new Map<string, number>();

  constructor(readonly windowSteps = 10) {
    if (!(Number.isInteger(windowSteps) && windowSteps >= 1))
      throw new NonFiniteOptionsError(`non-finite repeat window must be an integer ≥ 1 steps, got ${windowSteps}`);
  }

  /** Records that `id` was named at `step`; true when this is a repeat within the window. */
  offended(id: string, step: number): boolean {
    const prev = this.last.get(id);
    if (prev === step) return false; // the same step again (rerun after a recovery): one offence
    if (prev !== undefined && step - prev <= this.windowSteps) {
      this.last.delete(id);
      return true;
    }
    this.last.set(id, step);
    return false;
  }
}
