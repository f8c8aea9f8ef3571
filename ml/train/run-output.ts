// What a training run shows and records as it goes, on one rank or many: the lines it says and the progress display
// (a RunView: this terminal, or a follower of a job in the cluster), metrics.csv, train.log and, when asked, the
// loss curve. It takes the training loop's events (loop.ts).
import { writeFileSync } from "node:fs";
import type { Logger } from "pino";
import type { RollbackPoint } from "./engine.ts";
import type { LoopEvents } from "./loop.ts";
import { lossCurveSvg } from "./loss-svg.ts";
import { MetricsCsv } from "./metrics-csv.ts";
import { TerminalView, type RunView } from "./run-view.ts";
import type { StepReport, TrainProgress } from "./types.ts";

export interface RunOutputOptions {
  out: NodeJS.WriteStream;
  /** Where lines and progress go (default: a TerminalView on `out`, with `tty` forcing its mode). */
  view?: RunView;
  tty?: boolean;
  log: Logger;
  /** train.log's message for a step ("step committed" for a job's steps, which are committed once every rank applied them). */
  stepMessage: string;
  /** Draw the loss curve into `file` after every validation and at the end. */
  curve?: { file: string; title: string; reference: { label: string; value: number } };
}

export interface DisplayOptions {
  metricsFile: string;
  /** Where a resumed run continues: metrics.csv keeps the rows up to its step (the later ones were lost). */
  resumedFrom?: TrainProgress;
  totalSteps: number;
  totalTokens: number;
  /** A plain line every this many steps when not on a TTY. */
  lineEvery: number;
}

export class RunOutput implements LoopEvents<unknown> {
  private readonly view: RunView;
  private metrics: MetricsCsv | undefined;
  private ended = false;
  /** This process's clock and tokens when training began (a resumed run restarts the clock). */
  private started: { at: number; tokens: number } | undefined;

  constructor(private readonly o: RunOutputOptions) {
    this.view = o.view ?? new TerminalView(o.out, o.tty);
  }

  say(line: string): void {
    this.view.say(line);
  }

  /** A line said without breaking the bar. */
  message(line: string): void {
    this.view.message(line);
  }

  /** Opens metrics.csv and starts the display: training begins. */
  begin(d: DisplayOptions): void {
    this.metrics = new MetricsCsv(d.metricsFile, d.resumedFrom?.step);
    const startStep = d.resumedFrom?.step ?? 0;
    const startTokens = d.resumedFrom?.tokensSeen ?? 0;
    this.started = { at: performance.now(), tokens: startTokens };
    this.view.begin({ totalSteps: d.totalSteps, totalTokens: d.totalTokens, startStep, startTokens, lineEvery: d.lineEvery });
  }

  stopRequested(signal: NodeJS.Signals): void {
    this.o.log.warn({ signal }, "stop requested");
    this.message(`${signal}: finishing this step and saving a checkpoint (press Ctrl-C again to quit at once)`);
  }

  step(r: StepReport): void {
    const tps = this.tokensPerSecond(r.tokensSeen);
    this.view.step(r, tps);
    this.metrics?.recordStep(r, tps, this.elapsedSeconds());
    this.o.log.info({ ...r }, this.o.stepMessage);
  }

  validation(at: TrainProgress, valLoss: number): void {
    this.view.validation(at.step, valLoss);
    this.metrics?.recordValidation(at, valLoss);
    this.o.log.info({ ...at, valLoss }, "validation");
    this.drawCurve();
  }

  checkpointSaved(at: TrainProgress, dir: string): void {
    this.o.log.info({ ...at, dir }, "checkpoint saved");
  }

  checkpointLost(_at: TrainProgress, lost: { lostWith: string; reason: string }): void {
    this.message(`a checkpoint being written was lost with ${lost.lostWith}; the next one replaces it`);
    this.o.log.warn({ err: lost.reason }, "checkpoint lost with a worker");
  }

  rolledBack(to: RollbackPoint): void {
    this.metrics?.rewindTo(to.step);
    this.message(`rolled back to the checkpoint of step ${to.step} (${to.dir}): steps after it run again`);
    this.o.log.warn({ ...to }, "rolled back to a checkpoint");
  }

  /** Tokens per second over this process's steps (a resumed run restarts the clock). */
  tokensPerSecond(tokensSeen: number): number {
    const elapsed = this.elapsedSeconds();
    return this.started && elapsed > 0 ? (tokensSeen - this.started.tokens) / elapsed : 0;
  }

  elapsedSeconds(): number {
    return this.started ? (performance.now() - this.started.at) / 1000 : 0;
  }

  /** Stops the display; the files hold every row. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.view.end();
    this.metrics?.flush();
    this.drawCurve();
  }

  private drawCurve(): void {
    const c = this.o.curve;
    if (!c || !this.metrics) return;
    const points = this.metrics.rows.map((r) => ({ tokens: r.tokens ?? 0, loss: r.loss, valLoss: r.val_loss }));
    writeFileSync(c.file, lossCurveSvg(points, { title: c.title, reference: c.reference }));
  }
}
