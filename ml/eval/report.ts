// Results of an evaluation run: a table per task and shot count for the terminal, and JSON.
import { fixed, formatTable, type Cell } from "./table.ts";
import type { TaskScore } from "./types.ts";

/** Metrics shown as rows (their "<name>_stderr" companions go into the ± column). */
const SHOWN = ["acc", "acc_norm", "ppl"];

export function formatScores(scores: readonly TaskScore[]): string {
  const rows: Cell[][] = [];
  for (const s of scores) {
    let first = true;
    for (const metric of SHOWN) {
      if (!(metric in s.metrics)) continue;
      const stderr = s.metrics[`${metric}_stderr`];
      rows.push([
        first ? s.task : "",
        first ? s.shots : "",
        first ? s.examples : "",
        metric,
        fixed(s.metrics[metric]),
        stderr === undefined ? "" : fixed(stderr),
        first && s.truncated ? s.truncated : "",
      ]);
      first = false;
    }
  }
  return formatTable(["task", "shots", "n", "metric", "value", "± stderr", "truncated"], rows);
}

export interface EvalReport {
  checkpoint: string;
  step?: number;
  seed: number;
  /** Shot counts and example limit the run used. */
  shots?: number[];
  limit?: number;
  createdAt: string;
  results: TaskScore[];
  bias?: unknown;
}

/** JSON text of a report; NaN (undefined stderr of one example) becomes null. */
export function reportJson(report: EvalReport): string {
  return JSON.stringify(report, (_key, value: unknown) => (typeof value === "number" && !Number.isFinite(value) ? null : value), 2) + "\n";
}
