// The single-rank training loop: schedules in tokens, accumulation, clipping, validation, checkpoints,
// resume and a clean stop. Everything a step depends on is (weights, optimizer state, progress), all of
// which a checkpoint holds, so a resumed run continues bit for bit.
import { CheckpointWriter } from "../checkpoint/async-save.ts";
import { copyTensorsInto, loadCheckpoint } from "../checkpoint/store.ts";
import type { GptModel, Optimizer } from "../model/types.ts";
import { batchRampOf, type TrainConfig } from "./config.ts";
import { ResumeError } from "./errors.ts";
import { batchSizeAt, lrAt, type BatchRamp, type LrSchedule } from "./schedule.ts";
import { trainStep, validationLoss } from "./step.ts";
import type { StepReport, TrainingData, TrainProgress } from "./types.ts";

export interface TrainerHooks {
  onStep?(report: StepReport): void;
  onValidation?(progress: TrainProgress, valLoss: number): void;
  onCheckpoint?(progress: TrainProgress, dir: string): void;
}

export interface TrainerOptions {
  config: TrainConfig;
  model: GptModel;
  optimizer: Optimizer;
  data: TrainingData;
  /** Folder holding step-NNNNNNNN checkpoint folders and `latest`. */
  checkpointRoot: string;
  tokenizer: { file: string; sha256?: string };
  /** Stop after this many steps in total (counting steps before a resume). */
  totalSteps: number;
  /** Abort = stop after the step in flight, save a checkpoint, return. */
  signal?: AbortSignal;
  hooks?: TrainerHooks;
}

export interface TrainOutcome {
  progress: TrainProgress;
  /** True when stopped by the signal before totalSteps. */
  interrupted: boolean;
  lastLoss?: number;
  lastValLoss?: number;
  checkpointDir?: string;
}

export class Trainer {
  progress: TrainProgress = { step: 0, tokensSeen: 0, samplesSeen: 0 };
  private readonly lr: LrSchedule;
  private readonly ramp: BatchRamp;
  private lastLoss: number | undefined;
  private lastValLoss: number | undefined;
  private savedAtStep = -1;
  private readonly checkpoints = new CheckpointWriter();
  private lastCheckpointDir: string | undefined;

  constructor(private readonly o: TrainerOptions) {
    const c = o.config;
    this.lr = { peak: c.optimizer.lr, warmupTokens: c.schedule.warmupTokens, decayTokens: c.schedule.decayTokens, minRatio: c.schedule.minLrRatio };
    this.ramp = batchRampOf(c);
  }

  /** Restores weights, optimizer state and progress from a checkpoint folder. */
  resumeFrom(dir: string): void {
    const ckpt = loadCheckpoint(dir);
    const saved = ckpt.manifest.config as Partial<TrainConfig> | undefined;
    const c = this.o.config;
    const mismatch = (field: string, then: unknown, now: unknown) => {
      if (JSON.stringify(then) !== JSON.stringify(now)) {
        throw new ResumeError(
          `cannot resume from ${dir}: \`${field}\` was ${JSON.stringify(then)} in that run and is ${JSON.stringify(now)} now`,
        );
      }
    };
    mismatch("model", saved?.model, c.model);
    mismatch("data.vocabSize", saved?.data?.vocabSize, c.data.vocabSize);
    mismatch("data.corpus", saved?.data?.corpus, c.data.corpus);
    mismatch("data.heldOutPerGenre", saved?.data?.heldOutPerGenre, c.data.heldOutPerGenre);
    mismatch("data.seed", saved?.data?.seed, c.data.seed);
    mismatch("seed", ckpt.manifest.seed, c.seed);
    const savedTokenizer = ckpt.manifest.data.tokenizerSha256;
    if (savedTokenizer && this.o.tokenizer.sha256 && savedTokenizer !== this.o.tokenizer.sha256) {
      throw new ResumeError(`cannot resume from ${dir}: the tokenizer (${this.o.tokenizer.file}) differs from the one that run used (sha256 mismatch)`);
    }
    copyTensorsInto(this.o.model.parameters(), ckpt.params, `checkpoint ${dir} (model)`);
    copyTensorsInto(this.o.optimizer.state(), ckpt.optimizerState, `checkpoint ${dir} (optimizer)`);
    this.o.optimizer.stepCount = ckpt.manifest.optimizer.stepCount;
    const m = ckpt.manifest;
    this.progress = { step: m.step, tokensSeen: m.tokensSeen, samplesSeen: m.samplesSeen };
    this.lastLoss = m.metrics.loss;
    this.lastValLoss = m.metrics.valLoss;
    this.savedAtStep = m.step;
  }

  /** LR and batch size of the next step. */
  nextStepPlan(): { lr: number; batchSize: number } {
    const batchSize = batchSizeAt(this.ramp, this.progress.tokensSeen);
    const tokensAfter = this.progress.tokensSeen + batchSize * this.o.config.model.seqLen;
    return { lr: lrAt(this.lr, tokensAfter), batchSize };
  }

  async step(): Promise<StepReport> {
    const { lr, batchSize } = this.nextStepPlan();
    const started = performance.now();
    const out = await trainStep(this.o.model, this.o.optimizer, this.o.data, {
      step: this.progress.step + 1,
      firstSample: this.progress.samplesSeen,
      batchSize,
      microBatch: this.o.config.batch.microBatch,
      lr,
      clip: this.o.config.optimizer.clip,
    });
    this.progress = {
      step: this.progress.step + 1,
      tokensSeen: this.progress.tokensSeen + batchSize * this.o.config.model.seqLen,
      samplesSeen: this.progress.samplesSeen + batchSize,
    };
    this.lastLoss = out.loss;
    return {
      ...this.progress,
      loss: out.loss,
      gradNorm: out.gradNorm,
      clipped: out.clipScale < 1,
      lr,
      batchSize,
      stepSeconds: (performance.now() - started) / 1000,
    };
  }

  async validate(): Promise<number> {
    const { eval: ev, batch } = this.o.config;
    this.lastValLoss = await validationLoss(this.o.model, this.o.data, ev.batches, batch.microBatch, this.progress.step);
    this.o.hooks?.onValidation?.(this.progress, this.lastValLoss);
    return this.lastValLoss;
  }

  /**
   * Starts a checkpoint of the current state: returns once the tensors are copied (after the previous checkpoint's
   * write, if one is still running); the files are written in the background. `finishCheckpoints` waits for them.
   */
  async startCheckpoint(): Promise<void> {
    const c = this.o.config;
    const metrics: Record<string, number> = {};
    if (this.lastLoss !== undefined) metrics.loss = this.lastLoss;
    if (this.lastValLoss !== undefined) metrics.valLoss = this.lastValLoss;
    const progress = { ...this.progress };
    const pending = await this.checkpoints.save(
      this.o.checkpointRoot,
      {
        ...progress,
        seed: c.seed,
        data: { tokenizerFile: this.o.tokenizer.file, tokenizerSha256: this.o.tokenizer.sha256, seed: c.data.seed, nextSample: progress.samplesSeen },
        config: c,
        metrics,
        params: this.o.model.parameters(),
        optimizerState: this.o.optimizer.state(),
        optimizerStepCount: this.o.optimizer.stepCount,
      },
      { keep: c.checkpoint.keep },
    );
    this.savedAtStep = progress.step;
    pending.written.then(
      (dir) => {
        this.lastCheckpointDir = dir;
        this.o.hooks?.onCheckpoint?.(progress, dir);
      },
      () => undefined, // reported by finishCheckpoints or the next startCheckpoint
    );
  }

  /** Waits until every started checkpoint is on disk; returns the newest one's folder. */
  async finishCheckpoints(): Promise<string | undefined> {
    await this.checkpoints.drain();
    return this.lastCheckpointDir;
  }

  /** Saves a checkpoint of the current state and waits until it is on disk. */
  async saveCheckpoint(): Promise<string> {
    await this.startCheckpoint();
    return (await this.finishCheckpoints())!;
  }

  /** Trains until totalSteps (or the signal), validating and checkpointing at the configured intervals. */
  async run(): Promise<TrainOutcome> {
    const { eval: ev, checkpoint } = this.o.config;
    const aborted = () => this.o.signal?.aborted === true;
    try {
      if (this.progress.step === 0 && !aborted()) await this.validate();
      while (this.progress.step < this.o.totalSteps && !aborted()) {
        const report = await this.step();
        this.o.hooks?.onStep?.(report);
        const s = this.progress.step;
        const last = s === this.o.totalSteps;
        if (s % ev.interval === 0 || last) await this.validate();
        if (s % checkpoint.interval === 0 || last) await this.startCheckpoint();
        // a step may never leave the event loop; one turn lets the background write's I/O completions run
        if (this.checkpoints.busy) await new Promise((resolve) => setImmediate(resolve));
      }
      if (this.savedAtStep !== this.progress.step) await this.startCheckpoint();
    } catch (err) {
      await this.checkpoints.drain().catch(() => undefined); // the checkpoint in flight still lands; the step's error is reported
      throw err;
    }
    const interrupted = this.progress.step < this.o.totalSteps;
    const checkpointDir = await this.finishCheckpoints(); // training ends (Ctrl-C too) once the write in flight is on disk
    return { progress: this.progress, interrupted, lastLoss: this.lastLoss, lastValLoss: this.lastValLoss, checkpointDir };
  }
}
