// The metrics CSV of a run: one row per step, validation loss on the row of the step it followed.
// On resume, rows after the checkpoint's step (from the interrupted run) are dropped first; so are they when a
// job rolls back to a checkpoint (the steps after it run again).
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import type { StepReport, TrainProgress } from "./types.ts";

const METRIC_COLUMNS = ["step", "tokens", "samples", "batch", "lr", "loss", "grad_norm", "val_loss", "tokens_per_s", "elapsed_s"] as const;

export type MetricRow = Partial<Record<(typeof METRIC_COLUMNS)[number], number>>;

function parseRows(text: string): MetricRow[] {
  const [header, ...lines] = text.trim().split("\n");
  const cols = header.split(",");
  return lines
    .filter((l) => l.length > 0)
    .map((line) => {
      const row: Record<string, number> = {};
      line.split(",").forEach((v, i) => {
        if (v !== "") row[cols[i]] = Number(v);
      });
      return row as MetricRow;
    });
}

function formatRow(row: MetricRow): string {
  return METRIC_COLUMNS.map((c) => (row[c] === undefined ? "" : String(row[c]))).join(",") + "\n";
}

export class MetricsCsv {
  /** Every row written so far in this run directory (kept for the loss curve). */
  readonly rows: MetricRow[] = [];
  private pending: MetricRow | undefined;

  /** Opens `file`: fresh (resumeStep undefined) or continuing after step `resumeStep`. */
  constructor(
    private readonly file: string,
    resumeStep?: number,
  ) {
    if (resumeStep !== undefined && existsSync(file)) {
      this.rows.push(...parseRows(readFileSync(file, "utf8")).filter((r) => (r.step ?? 0) <= resumeStep));
    }
    this.rewrite();
  }

  /** Drops the rows after `step` (their steps run again). */
  rewindTo(step: number): void {
    this.flush();
    this.rows.splice(0, this.rows.length, ...this.rows.filter((r) => (r.step ?? 0) <= step));
    this.rewrite();
  }

  private rewrite(): void {
    writeFileSync(this.file, METRIC_COLUMNS.join(",") + "\n" + this.rows.map(formatRow).join(""));
  }

  recordStep(r: StepReport, tokensPerSecond: number, elapsedSeconds: number): void {
    this.flush();
    this.pending = {
      step: r.step,
      tokens: r.tokensSeen,
      samples: r.samplesSeen,
      batch: r.batchSize,
      lr: r.lr,
      loss: r.loss,
      grad_norm: r.gradNorm,
      tokens_per_s: Math.round(tokensPerSecond),
      elapsed_s: Math.round(elapsedSeconds * 1000) / 1000,
    };
  }

  recordValidation(p: TrainProgress, valLoss: number): void {
    if (this.pending?.step === p.step) this.pending.val_loss = valLoss;
    else {
      this.flush();
      this.pending = { step: p.step, tokens: p.tokensSeen, samples: p.samplesSeen, val_loss: valLoss };
    }
    this.flush();
  }

  flush(): void {
    if (!this.pending) return;
    appendFileSync(this.file, formatRow(this.pending));
    this.rows.push(this.pending);
    this.pending = undefined;
  }
}
