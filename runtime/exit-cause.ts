// Human-readable cause of a process exit, as shown in `troupe inspect` and the events.
import type { ExitReport } from "./types.ts";

export function describeExit(r: Pick<ExitReport, "code" | "signal" | "stderrTail">): string {
  if (r.signal) return `killed by ${r.signal}`;
  // The last plain (non-JSON log) stderr line usually says why a process gave up.
  const last = r.stderrTail
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("{"))
    .at(-1);
  const how = `exited with code ${r.code}`;
  return last ? `${how}: ${last.slice(0, 300)}` : how;
}

/**
 * Whether an actor's death came from outside it (a signal: the OOM killer, an operator, chaos; or silence: a hang,
 * a lost machine) rather than an error of its own (a non-zero exit): starting it again can mend the first only.
 * Reads the causes written by describeExit and the actor record machine (runtime/machines/actor-record.ts).
 */
export function lostFromOutside(cause: string): boolean {
  return cause.startsWith("killed by ") || cause.startsWith("no heartbeat ");
}
