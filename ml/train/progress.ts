// What the user sees while training: a live bar on a TTY (step, loss, validation loss, tokens/s, ETA),
// plain periodic lines otherwise (CI logs, pipes, files).
import cliProgress from "cli-progress";
import type { StepReport } from "./types.ts";

export interface ProgressOptions {
  totalSteps: number;
  totalTokens: number;
  startStep: number;
  startTokens: number;
  /** Print a plain line every this many steps when not on a TTY. */
  lineEvery: number;
  stream: NodeJS.WriteStream;
  /** Override the TTY detection (tests). */
  tty?: boolean;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

export class ProgressDisplay {
  private readonly bar: cliProgress.SingleBar | undefined;
  private readonly started = performance.now();
  private valLoss: number | undefined;
  private valStep = 0;
  private last: StepReport | undefined;
  /** Tokens per second as measured elsewhere (a follower of a job in the cluster), instead of this clock. */
  private measured: number | undefined;

  constructor(private readonly o: ProgressOptions) {
    if (o.tty ?? o.stream.isTTY) {
      this.bar = new cliProgress.SingleBar(
        {
          stream: o.stream,
          format: "{bar} step {value}/{total} | loss {loss} | val {val} | {tps} tok/s | ETA {etaText}",
          barsize: 24,
          hideCursor: true,
          fps: 5,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(o.totalSteps, o.startStep, this.payload());
    }
  }

  /** Tokens per second over this process's steps (a resumed run restarts the clock). */
  tokensPerSecond(tokensSeen: number): number {
    const elapsed = (performance.now() - this.started) / 1000;
    return elapsed > 0 ? (tokensSeen - this.o.startTokens) / elapsed : 0;
  }

  elapsedSeconds(): number {
    return (performance.now() - this.started) / 1000;
  }

  private payload() {
    const r = this.last;
    const tps = this.measured ?? (r ? this.tokensPerSecond(r.tokensSeen) : 0);
    const eta = r && tps > 0 ? (this.o.totalTokens - r.tokensSeen) / tps : NaN;
    return {
      loss: r ? r.loss.toFixed(3) : "-",
      // the step it was measured at: validation runs only every eval.interval steps
      val: this.valLoss !== undefined ? `${this.valLoss.toFixed(3)}@${this.valStep}` : "-",
      tps: Math.round(tps).toLocaleString("en-US"),
      etaText: formatDuration(eta),
      lr: r ? r.lr.toExponential(2) : "-",
      batch: r?.batchSize ?? "-",
    };
  }

  step(r: StepReport, tokensPerSecond?: number): void {
    this.last = r;
    this.measured = tokensPerSecond;
    if (this.bar) this.bar.update(r.step, this.payload());
    else if (r.step % this.o.lineEvery === 0 || r.step === this.o.totalSteps) this.line();
  }

  validation(step: number, valLoss: number): void {
    this.valLoss = valLoss;
    this.valStep = step;
    if (this.bar) this.bar.update(step, this.payload());
  }

  /** Prints a message without breaking the bar. */
  message(text: string): void {
    if (this.bar) {
      this.bar.stop();
      this.o.stream.write(text + "\n");
      this.bar.start(this.o.totalSteps, this.last?.step ?? this.o.startStep, this.payload());
    } else this.o.stream.write(text + "\n");
  }

  private line(): void {
    const p = this.payload();
    this.o.stream.write(
      `step ${this.last?.step}/${this.o.totalSteps} | loss ${p.loss} | val ${p.val} | lr ${p.lr} | batch ${p.batch} | ${p.tps} tok/s | ETA ${p.etaText}\n`,
    );
  }

  stop(): void {
    this.bar?.stop();
  }
}
