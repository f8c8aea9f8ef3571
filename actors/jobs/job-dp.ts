// The data-parallel replicas a job runs with now and how they changed, from its lifecycle record's context (the
// job machine's `resizes`, actors/coordinator/job-machine.ts): what `troupe jobs`, `ps` and `inspect` show of an
// elastic job.
import type { LifecycleRecord } from "../../runtime/lifecycle-recorder.ts";
import type { Resize } from "../coordinator/job-machine.ts";

export interface JobDp {
  /** The replicas now: the last resize's, else the configured dp (null when not known). */
  dp: number | null;
  resizes: Resize[];
}

/** What the job's lifecycle record says of its replicas; `configured` is the config's dp when known. */
export function jobDpOf(lifecycle: LifecycleRecord | null | undefined, configured: number | null = null): JobDp {
  const ctx = lifecycle?.context as { resizes?: unknown } | null | undefined;
  const resizes = Array.isArray(ctx?.resizes) ? (ctx.resizes as Resize[]) : [];
  return { dp: resizes.at(-1)?.to ?? configured, resizes };
}

/** "1 (shrunk from 2 at step 3)", "2", or "-". */
export function describeDp(d: JobDp): string {
  const last = d.resizes.at(-1);
  if (d.dp === null) return "-";
  return last ? `${d.dp} (${last.kind} from ${last.from} at step ${last.step})` : String(d.dp);
}

/** One line of the history: "2026-…Z  shrunk dp 2 → 1 at step 3: <cause>". */
export function describeResize(r: Resize): string {
  return `${new Date(r.time).toISOString()}  ${r.kind} dp ${r.from} → ${r.to} at step ${r.step} (replicas ${r.replicas.join(", ")}): ${r.cause}`;
}
