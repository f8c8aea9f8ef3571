// One rank: the model and optimizer in this process behind the training loop's engine interface (engine.ts).
// Everything a step depends on (weights, optimizer state, progress) is in a checkpoint and the batches are pure
// functions of their index, so a resumed run continues bit for bit.
import { runTokenizer } from "../checkpoint/run-tokenizer.ts";
import { CheckpointWriter } from "../checkpoint/async-save.ts";
import { checkpointInfo } from "../checkpoint/build-manifest.ts";
import { copyTensorsInto, loadCheckpoint } from "../checkpoint/store.ts";
import type { GptModel, Optimizer } from "../model/types.ts";
import type { TrainConfig } from "./config.ts";
import type { CheckpointRequest, EngineStep, StartedCheckpoint, StepEngine, StepPlan } from "./engine.ts";
import type { LoopStart } from "./loop.ts";
import { checkResumable, startFrom } from "./resume.ts";
import { trainStep, validationLoss } from "./step.ts";
import type { TrainingData, TrainProgress } from "./types.ts";

export interface LocalEngineOptions {
  config: TrainConfig;
  model: GptModel;
  optimizer: Optimizer;
  data: TrainingData;
  /** Folder holding step-NNNNNNNN checkpoint folders and `latest`. */
  checkpointRoot: string;
  tokenizer: { file: string; sha256?: string };
}

export class LocalEngine implements StepEngine {
  private readonly writer = new CheckpointWriter();

  constructor(private readonly o: LocalEngineOptions) {}

  /** Restores weights and optimizer state from a checkpoint folder; the loop starts where it stood. */
  resumeFrom(dir: string): LoopStart {
    const ckpt = loadCheckpoint(dir);
    checkResumable(dir, ckpt.manifest, this.o.config, this.o.tokenizer);
    copyTensorsInto(this.o.model.parameters(), ckpt.params, `checkpoint ${dir} (model)`);
    copyTensorsInto(this.o.optimizer.state(), ckpt.optimizerState, `checkpoint ${dir} (optimizer)`);
    this.o.optimizer.stepCount = ckpt.manifest.optimizer.stepCount;
    return startFrom(dir, ckpt.manifest);
  }

  async runStep(plan: StepPlan): Promise<EngineStep> {
    const c = this.o.config;
    const out = await trainStep(this.o.model, this.o.optimizer, this.o.data, {
      step: plan.step,
      firstSample: plan.firstSample,
      batchSize: plan.batchSize,
      microBatch: c.batch.microBatch,
      lr: plan.lr,
      clip: c.optimizer.clip,
    });
    return {
      step: plan.step,
      tokensSeen: plan.tokensAfter,
      samplesSeen: plan.firstSample + plan.batchSize,
      loss: out.loss,
      gradNorm: out.gradNorm,
      clipScale: out.clipScale,
      lr: plan.lr,
      batchSize: plan.batchSize,
    };
  }

  validate(at: TrainProgress): Promise<number> {
    const c = this.o.config;
    return validationLoss(this.o.model, this.o.data, c.eval.batches, c.batch.microBatch, at.step);
  }

  /** Returns once the tensors are copied; the files are written in the background (CheckpointWriter). */
  async checkpoint(req: CheckpointRequest): Promise<StartedCheckpoint> {
    const { config, model, optimizer } = this.o;
    const tokenizer = runTokenizer(this.o.checkpointRoot, this.o.tokenizer);
    const info = checkpointInfo({ progress: req, config, tokenizer, metrics: req.metrics, optimizerStepCount: optimizer.stepCount });
    const pending = await this.writer.save(
      this.o.checkpointRoot,
      { ...info, params: model.parameters(), optimizerState: optimizer.state() },
      { keep: config.checkpoint.keep },
    );
    return { step: pending.step, written: pending.written.then((dir) => ({ dir })) };
  }

  /** Waits for the write in flight (throwing if it failed) and ends the writer's thread. */
  close(): Promise<void> {
    return this.writer.close();
  }
}
