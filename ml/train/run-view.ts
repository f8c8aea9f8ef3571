// Where a training run's progress is shown: this process's terminal (a live bar, or plain periodic lines), or a
// follower elsewhere (a job in the cluster publishes its view; `troupe attach` draws it with a TerminalView).
import { ProgressDisplay } from "./progress.ts";
import type { StepReport } from "./types.ts";

/** What the display needs when training begins. */
export interface ViewStart {
  totalSteps: number;
  totalTokens: number;
  /** Where this run starts (a resumed run: the checkpoint's step and tokens). */
  startStep: number;
  startTokens: number;
  /** A plain line every this many steps when not on a TTY. */
  lineEvery: number;
}

export interface RunView {
  /** A line of its own (before training, or the closing lines). */
  say(line: string): void;
  /** A line said during training without breaking the bar. */
  message(line: string): void;
  begin(s: ViewStart): void;
  step(r: StepReport, tokensPerSecond: number): void;
  validation(step: number, loss: number): void;
  /** Training is over: the bar goes (closing lines may follow). */
  end(): void;
}

/** The view on a terminal or a pipe: ProgressDisplay once training begins, plain lines before and after. */
export class TerminalView implements RunView {
  private display: ProgressDisplay | undefined;
  private ended = false;

  /** `tty` forces the display mode (default: a bar when `out` is a TTY). */
  constructor(
    private readonly out: NodeJS.WritableStream & { isTTY?: boolean },
    private readonly tty?: boolean,
  ) {}

  say(line: string): void {
    this.out.write(line + "\n");
  }

  message(line: string): void {
    if (this.display && !this.ended) this.display.message(line);
    else this.say(line);
  }

  begin(s: ViewStart): void {
    this.display?.stop();
    this.ended = false;
    this.display = new ProgressDisplay({ ...s, stream: this.out as NodeJS.WriteStream, tty: this.tty });
  }

  step(r: StepReport, tokensPerSecond: number): void {
    this.display?.step(r, tokensPerSecond);
  }

  validation(step: number, loss: number): void {
    this.display?.validation(step, loss);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.display?.stop();
  }
}
