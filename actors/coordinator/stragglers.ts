import { StragglerOptionsError } from "./errors.ts";
// Straggler detection: a worker whose busy time (its step's wall time minus the time it sat blocked in
// collectives) stays above `factor` × the median busy time of its peers for `consecutive` steps in a row; it is
// cleared after as many steps in a row under that bar.
// Peers are the other workers of the same group: workers that do the same work per step. In a data-parallel
// job every worker is a peer of every other; with pp > 1 only the workers of one pipeline stage are (every
// replica and TP shard of that stage run the same layers; the first and last stages also hold the embedding
// and the head, and pipeline waits make every stage's wall time equal, so stages are not compared).
// A worker with no peer (a stage held by one worker) is never flagged.
// Pure: fed one step's busy times at a time; tells which workers were flagged or cleared by that step.
//
// Example, factor 1.5, consecutive 3, minExcessMs 2, three workers of one group:
//   step 1: a 10, b 11, c 20 → c's peers' median 10.5, c at 1.90× (1 in a row)
//   step 2: a 10, b 10, c 19 → c at 1.9× (2 in a row)
//   step 3: a 11, b 10, c 21 → c at 2.0× (3 in a row) → flagged { id: c, ratio: 2.0 }
//   step 4: a 10, b 10, c 10 → c under the bar (1 in a row)
//   step 5: a 10, b 10, c 30 → c slow again: still flagged, the normal steps count from 0
//   steps 6, 7, 8: a, b, c 10 → cleared at step 8 (3 in a row)
// A slow step must also be slow by an amount that matters: its excess over the median must reach `minExcessMs`
// (1 ms vs 0.4 ms is no straggler) and, when the caller knows the job's step time, `minStepShare` of it. Busy
// times are wall times: a worker the OS leaves waiting for a core is busy meanwhile, so on a loaded machine a
// healthy worker whose stage computes a small part of the step swings to several times its peer's busy time for
// steps on end, a ratio that alone cannot tell it from a straggler. What it costs the step can: a straggler that
// matters holds every rank up for a good part of each step.
export interface StragglerOptions {
  /** Busy time above factor × median counts as slow (default 1.5). */
  factor: number;
  /** Slow steps in a row before a worker is flagged (default 5). */
  consecutive: number;
  /** A slow step must also exceed the median by this many ms (default 2). */
  minExcessMs: number;
  /** ... and by this share of the job's step time, when the caller gives it (default 0.1). */
  minStepShare: number;
}

const defaultStragglerOptions: StragglerOptions = { factor: 1.5, consecutive: 5, minExcessMs: 2, minStepShare: 0.1 };

export interface BusySample {
  id: string;
  busyMs: number;
  /** Workers of one group are compared with each other only (default: one group of every worker). */
  group?: string;
}

export interface StragglerChange {
  id: string;
  step: number;
  /** Busy time ÷ the median busy time of its peers at this step. */
  ratio: number;
  busyMs: number;
  /** Median busy time of its peers (the other workers of its group). */
  medianMs: number;
  /** The job's step time the excess was measured against (absent: not given). */
  stepMs?: number;
}

export function validateStragglerOptions(o: Partial<StragglerOptions> = {}): StragglerOptions {
  const v = { ...defaultStragglerOptions, ...o };
  if (!(Number.isFinite(v.factor) && v.factor > 1))
    throw new StragglerOptionsError(`straggler factor must be a number above 1, got ${v.factor}`);
  if (!(Number.isInteger(v.consecutive) && v.consecutive >= 1))
    throw new StragglerOptionsError(`straggler consecutive steps must be an integer ≥ 1, got ${v.consecutive}`);
  if (!(Number.isFinite(v.minExcessMs) && v.minExcessMs >= 0))
    throw new StragglerOptionsError(`straggler minExcessMs must be ≥ 0, got ${v.minExcessMs}`);
  if (!(Number.isFinite(v.minStepShare) && v.minStepShare >= 0 && v.minStepShare < 1))
    throw new StragglerOptionsError(`straggler minStepShare must be in [0, 1), got ${v.minStepShare}`);
  return v;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError("median of no values");
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export class StragglerDetector {
  readonly options: StragglerOptions;
  /** Steps in a row that disagree with a worker's state: slow ones while unflagged, normal ones while flagged. */
  private readonly against = new Map<string, number>();
  private readonly current = new Map<string, StragglerChange>();

  constructor(options: Partial<StragglerOptions> = {}) {
    this.options = validateStragglerOptions(options);
  }

  /** Workers flagged now, with the step and ratio that flagged them. */
  get flagged(): ReadonlyMap<string, StragglerChange> {
    return this.current;
  }

  /**
   * One step's busy times (workers that measured none are left out), and the job's typical step time (ms) if known.
   * Returns the workers this step flagged and those it cleared: as a worker is flagged after `consecutive` slow steps
   * in a row, it is cleared after `consecutive` normal ones (one quick step of a straggler, or a slow one of a peer
   * it is compared with, changes nothing). A worker without a valid peer sample in its group this step is not
   * compared (its streak is kept as it is).
   */
  observe(step: number, samples: readonly BusySample[], stepMs?: number): { flagged: StragglerChange[]; cleared: StragglerChange[] } {
    const flagged: StragglerChange[] = [];
    const cleared: StragglerChange[] = [];
    const valid = samples.filter((s) => Number.isFinite(s.busyMs) && s.busyMs >= 0);
    const groups = new Map<string, BusySample[]>();
    for (const s of valid) groups.set(s.group ?? "", [...(groups.get(s.group ?? "") ?? []), s]);
    const known = stepMs !== undefined && Number.isFinite(stepMs) && stepMs > 0;
    const minExcess = known ? Math.max(this.options.minExcessMs, this.options.minStepShare * stepMs) : this.options.minExcessMs;
    for (const s of valid) {
      const peers = groups.get(s.group ?? "")!.filter((p) => p !== s);
      if (peers.length === 0) continue;
      const medianMs = median(peers.map((p) => p.busyMs));
      const ratio = medianMs > 0 ? s.busyMs / medianMs : s.busyMs > 0 ? Infinity : 1;
      const change: StragglerChange = { id: s.id, step, ratio, busyMs: s.busyMs, medianMs, ...(known ? { stepMs } : {}) };
      const slow = ratio > this.options.factor && s.busyMs - medianMs >= minExcess;
      if (slow === this.current.has(s.id)) {
        this.against.delete(s.id);
        continue;
      }
      const run = (this.against.get(s.id) ?? 0) + 1;
      if (run < this.options.consecutive) {
        this.against.set(s.id, run);
        continue;
      }
      this.against.delete(s.id);
      if (slow) {
        this.current.set(s.id, change);
        flagged.push(change);
      } else {
        this.current.delete(s.id);
        cleared.push(change);
      }
    }
    return { flagged, cleared };
  }
}
