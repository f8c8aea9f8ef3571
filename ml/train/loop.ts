// The training loop, one whatever the world size (as Megatron's pretrain()): validate at step 0, take the steps the
// token schedules plan, validate every eval.interval steps and at the end, checkpoint every checkpoint.interval
// steps in the background, and end (at totalSteps, or after the step in flight when the stop signal aborts) only
// once a checkpoint of the last step is on disk. The engine (engine.ts) holds the state and takes the steps; the loop
// keeps the run's bookkeeping: progress, this run's steps and validations, the figures a checkpoint records, and a
// rollback to a checkpoint (the steps after it run again; their rows are dropped).
import { setImmediate as nextTurn } from "node:timers/promises";
import { BackgroundCheckpoints, type CheckpointEvents } from "./background-checkpoints.ts";
import { batchRampOf, lrScheduleOf, type TrainConfig } from "./config.ts";
import type { CheckpointRequest, EngineStep, RollbackPoint, StepEngine, StepPlan } from "./engine.ts";
import { batchSizeAt, lrAt, type BatchRamp, type LrSchedule } from "./schedule.ts";
import type { StepReport, TrainProgress } from "./types.ts";

export interface LoopEvents<S> extends CheckpointEvents {
  step?(report: StepReport, step: S): void;
  validation?(at: TrainProgress, loss: number): void;
  rolledBack?(to: RollbackPoint): void;
}

/** Where a run starts: step 0, or a checkpoint it continues from with the figures that checkpoint recorded. */
export interface LoopStart {
  progress: TrainProgress;
  checkpointDir?: string;
  lastLoss?: number;
  lastValLoss?: number;
}

export interface LoopOptions<S> {
  config: TrainConfig;
  /** Stop after this many steps in total (counting the steps before a resume). */
  totalSteps: number;
  start?: LoopStart;
  /** Aborted: stop after the step in flight and save a checkpoint. */
  signal?: AbortSignal;
  events?: LoopEvents<S>;
}

export interface LoopOutcome<S> {
  progress: TrainProgress;
  /** True when stopped by the signal before totalSteps. */
  interrupted: boolean;
  lastLoss?: number;
  lastValLoss?: number;
  /** The newest checkpoint on disk (the one the run continued from when it saved none). */
  checkpointDir?: string;
  /** This run's steps and validations in order (a rollback dropped those after its checkpoint). */
  steps: S[];
  validations: { step: number; loss: number }[];
}

const ZERO: TrainProgress = { step: 0, tokensSeen: 0, samplesSeen: 0 };

export class TrainingLoop<S extends EngineStep = EngineStep> {
  progress: TrainProgress;
  readonly steps: S[] = [];
  readonly validations: { step: number; loss: number }[] = [];
  private lastLoss: number | undefined;
  private lastValLoss: number | undefined;
  private readonly checkpoints: BackgroundCheckpoints;
  private readonly lr: LrSchedule;
  private readonly ramp: BatchRamp;

  constructor(
    private readonly engine: StepEngine<S>,
    private readonly o: LoopOptions<S>,
  ) {
    const start = o.start;
    this.progress = { ...(start?.progress ?? ZERO) };
    this.lastLoss = start?.lastLoss;
    this.lastValLoss = start?.lastValLoss;
    const from = start?.checkpointDir !== undefined ? { step: this.progress.step, dir: start.checkpointDir } : undefined;
    this.checkpoints = new BackgroundCheckpoints((req) => engine.checkpoint(req), from, o.events);
    this.lr = lrScheduleOf(o.config);
    this.ramp = batchRampOf(o.config);
  }

  /** The newest checkpoint on disk, once the one being written is (a job rolls back to it). */
  newestCheckpoint(): Promise<string | undefined> {
    return this.checkpoints.newest();
  }

  /** Trains until totalSteps or the stop signal; validates and checkpoints at the configured intervals. */
  async run(): Promise<LoopOutcome<S>> {
    if (this.progress.step === 0 && !this.stopped) await this.orRollBack(() => this.validate());
    for (;;) {
      if (this.progress.step < this.o.totalSteps && !this.stopped) await this.orRollBack(() => this.stepOnCadence());
      else if (await this.orRollBack(() => this.finish())) break;
    }
    return {
      progress: { ...this.progress },
      interrupted: this.progress.step < this.o.totalSteps,
      lastLoss: this.lastLoss,
      lastValLoss: this.lastValLoss,
      checkpointDir: await this.checkpoints.newest(),
      steps: this.steps,
      validations: this.validations,
    };
  }

  /** The LR and batch of the next step: both follow the tokens seen. */
  nextPlan(): StepPlan {
    const { step, tokensSeen, samplesSeen } = this.progress;
    const batchSize = batchSizeAt(this.ramp, tokensSeen);
    const tokensAfter = tokensSeen + batchSize * this.o.config.model.seqLen;
    return { step: step + 1, lr: lrAt(this.lr, tokensAfter), batchSize, firstSample: samplesSeen, tokensAfter };
  }

  /** Takes the next step and records it. */
  async step(): Promise<StepReport> {
    const started = performance.now();
    const s = await this.engine.runStep(this.nextPlan());
    this.steps.push(s);
    this.progress = { step: s.step, tokensSeen: s.tokensSeen, samplesSeen: s.samplesSeen };
    this.lastLoss = s.loss;
    const report = {
      ...this.progress,
      loss: s.loss,
      gradNorm: s.gradNorm,
      clipped: s.clipScale < 1,
      lr: s.lr,
      batchSize: s.batchSize,
      stepSeconds: (performance.now() - started) / 1000,
    };
    this.o.events?.step?.(report, s);
    return report;
  }

  /** Validation loss of the current weights, recorded. */
  async validate(): Promise<number> {
    const at = { ...this.progress };
    const loss = await this.engine.validate(at);
    this.lastValLoss = loss;
    this.validations.push({ step: at.step, loss });
    this.o.events?.validation?.(at, loss);
    return loss;
  }

  private get stopped(): boolean {
    return this.o.signal?.aborted === true;
  }

  private async stepOnCadence(): Promise<void> {
    await this.step();
    const s = this.progress.step;
    const last = s === this.o.totalSteps;
    if (s % this.o.config.eval.interval === 0 || last) await this.validate();
    if (s % this.o.config.checkpoint.interval === 0 || last) await this.checkpoints.start(this.checkpointRequest());
    // a step may never leave the event loop (local math): one turn lets the background write's I/O completions run
    if (this.checkpoints.busy) await nextTurn();
  }

  /** Saves the last step unless it is saved, and waits until that is on disk; one lost with its writer is saved again. */
  private async finish(): Promise<void> {
    while (this.checkpoints.savedAt !== this.progress.step || !(await this.checkpoints.settle())) {
      await this.checkpoints.start(this.checkpointRequest());
    }
  }

  private checkpointRequest(): CheckpointRequest {
    const metrics: Record<string, number> = {};
    // a skipped step's loss is NaN, which JSON cannot hold
    if (Number.isFinite(this.lastLoss)) metrics.loss = this.lastLoss!;
    if (Number.isFinite(this.lastValLoss)) metrics.valLoss = this.lastValLoss!;
    return { ...this.progress, metrics };
  }

  /** Runs `phase`; true when it completed, false when the engine rolled back to a checkpoint on the way. */
  private async orRollBack(phase: () => Promise<unknown>): Promise<boolean> {
    try {
      await phase();
      return true;
    } catch (err) {
      const to = this.engine.rolledBackTo?.(err);
      if (!to) throw err;
      this.rollBack(to);
      return false;
    }
  }

  private rollBack(to: RollbackPoint): void {
    this.progress = { step: to.step, tokensSeen: to.tokensSeen, samplesSeen: to.samplesSeen };
    const keep = <T extends { step: number }>(rows: T[]) => rows.splice(0, rows.length, ...rows.filter((r) => r.step <= to.step));
    keep(this.steps);
    keep(this.validations);
    // the figures as they stood at that checkpoint's step
    this.lastLoss = this.steps.at(-1)?.loss ?? this.o.start?.lastLoss;
    this.lastValLoss = this.validations.at(-1)?.loss ?? this.o.start?.lastValLoss;
    this.checkpoints.rollBack(to);
    this.o.events?.rolledBack?.(to);
  }
}
