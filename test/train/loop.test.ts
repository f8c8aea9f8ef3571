// The training loop's cadence and bookkeeping, against a fake engine (a pure policy unit: no model, no process).
// Each fake call resolves in microtasks, so one macrotask turn lets the loop run until it waits on something the
// test holds (a checkpoint's write).
import { describe, expect, it } from "vitest";
import { parseTrainConfig } from "../../ml/train/config.ts";
import type {
  CheckpointRequest,
  CheckpointWritten,
  EngineStep,
  RollbackPoint,
  StartedCheckpoint,
  StepEngine,
  StepPlan,
} from "../../ml/train/engine.ts";
import { TrainingLoop } from "../../ml/train/loop.ts";
import { batchSizeAt, lrAt } from "../../ml/train/schedule.ts";
import { deferred, type Deferred } from "../../runtime/async.ts";

const SEQ = 4;
const config = parseTrainConfig({
  model: { layers: 1, dModel: 8, heads: 1, seqLen: SEQ },
  data: { corpus: "brown", vocabSize: 300, heldOutPerGenre: 1 },
  optimizer: { lr: 0.1 },
  batch: { size: 8, microBatch: 2, rampStart: 4, rampIncrement: 2, rampTokens: 64 },
  schedule: { warmupTokens: 32, decayTokens: 1000 },
  train: { steps: 10 },
  eval: { interval: 3, batches: 1 },
  checkpoint: { interval: 4, keep: 2 },
});

const turn = () => new Promise((resolve) => setImmediate(resolve));

class Rollback extends Error {
  constructor(readonly to: RollbackPoint) {
    super(`rolled back to the checkpoint of step ${to.step}`);
  }
}

class FakeEngine implements StepEngine {
  /** What the loop asked, in order: "step 3", "validate 3", "checkpoint 4". */
  readonly log: string[] = [];
  readonly writes = new Map<number, Deferred<CheckpointWritten>[]>();
  /** false: the test settles each write itself. */
  autoWrite = true;
  /** Checkpoint steps whose first write is lost with its writer. */
  readonly lostOnce = new Set<number>();
  /** runStep(step) rolls back to `to`, once. */
  rollBackAt: { step: number; to: RollbackPoint } | undefined;
  private readonly waiting: { entry: string; reached: Deferred<void> }[] = [];

  /** Resolves once the loop asked for `entry` (e.g. "checkpoint 8"). */
  reached(entry: string): Promise<void> {
    const reached = deferred();
    if (this.log.includes(entry)) reached.resolve();
    else this.waiting.push({ entry, reached });
    return reached;
  }

  write(step: number): Deferred<CheckpointWritten> {
    return this.writes.get(step)!.at(-1)!;
  }

  async runStep(plan: StepPlan): Promise<EngineStep> {
    this.record(`step ${plan.step}`);
    if (this.rollBackAt?.step === plan.step) {
      const to = this.rollBackAt.to;
      this.rollBackAt = undefined;
      throw new Rollback(to);
    }
    const samplesSeen = plan.firstSample + plan.batchSize;
    return {
      step: plan.step,
      tokensSeen: plan.tokensAfter,
      samplesSeen,
      loss: 5 - plan.step / 10,
      gradNorm: 1,
      clipScale: 1,
      lr: plan.lr,
      batchSize: plan.batchSize,
    };
  }

  async validate(at: { step: number }): Promise<number> {
    this.record(`validate ${at.step}`);
    return 6 - at.step / 10;
  }

  async checkpoint(req: CheckpointRequest): Promise<StartedCheckpoint> {
    const unsettled = [...this.writes.values()].flat().filter((w) => !w.settled).length;
    if (unsettled > 0) throw new Error(`checkpoint ${req.step} asked while ${unsettled} write(s) are in flight`);
    this.record(`checkpoint ${req.step}`);
    const written = deferred<CheckpointWritten>();
    this.writes.set(req.step, [...(this.writes.get(req.step) ?? []), written]);
    if (this.autoWrite) {
      written.resolve(
        this.lostOnce.delete(req.step) ? { lostWith: "w0", reason: "worker w0 lost: killed by SIGKILL" } : { dir: `ckpt/${req.step}` },
      );
    }
    return { step: req.step, written };
  }

  rolledBackTo(err: unknown): RollbackPoint | undefined {
    return err instanceof Rollback ? err.to : undefined;
  }

  private record(entry: string): void {
    this.log.push(entry);
    for (const w of this.waiting.filter((x) => x.entry === entry)) w.reached.resolve();
  }
}

const asked = (e: FakeEngine, what: "step" | "validate" | "checkpoint") =>
  e.log.filter((l) => l.startsWith(what)).map((l) => Number(l.split(" ")[1]));

describe("TrainingLoop", () => {
  it("validates at 0, every eval.interval and at the end; checkpoints every checkpoint.interval and at the end", async () => {
    const engine = new FakeEngine();
    const requests: CheckpointRequest[] = [];
    const checkpoint = engine.checkpoint.bind(engine);
    engine.checkpoint = (req) => (requests.push(req), checkpoint(req));
    const out = await new TrainingLoop(engine, { config, totalSteps: 10 }).run();
    expect(engine.log.filter((l) => !l.startsWith("step"))).toEqual([
      "validate 0",
      "validate 3",
      "checkpoint 4",
      "validate 6",
      "checkpoint 8",
      "validate 9",
      "validate 10",
      "checkpoint 10",
    ]);
    expect(asked(engine, "step")).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(out).toMatchObject({ interrupted: false, checkpointDir: "ckpt/10", lastLoss: 4, lastValLoss: 5 });
    expect(out.validations.map((v) => v.step)).toEqual([0, 3, 6, 9, 10]);
    // the schedules in tokens: batch 4, 4, 6, 6, 8, … (ramp over 64 tokens), LR at the tokens after the step
    let tokens = 0;
    const ramp = { start: 4, increment: 2, final: 8, rampTokens: 64 };
    for (const s of out.steps) {
      expect(s.batchSize).toBe(batchSizeAt(ramp, tokens));
      tokens += s.batchSize * SEQ;
      expect(s.tokensSeen).toBe(tokens);
      expect(s.lr).toBe(lrAt({ peak: 0.1, warmupTokens: 32, decayTokens: 1000, minRatio: 0.1 }, tokens));
    }
    // a checkpoint records the last step's loss and the latest validation loss
    expect(requests.map((r) => [r.step, r.metrics])).toEqual([
      [4, { loss: 4.6, valLoss: 5.7 }],
      [8, { loss: 4.2, valLoss: 5.4 }],
      [10, { loss: 4, valLoss: 5 }],
    ]);
  });

  it("keeps one checkpoint write in flight and ends only once the last one is on disk", async () => {
    const engine = new FakeEngine();
    engine.autoWrite = false;
    let ended = false;
    const run = new TrainingLoop(engine, { config, totalSteps: 10 }).run().finally(() => (ended = true));
    await engine.reached("step 8");
    await turn();
    expect(engine.log.at(-1)).toBe("step 8"); // waiting for the write of step 4 before copying step 8
    engine.write(4).resolve({ dir: "ckpt/4" });
    await engine.reached("checkpoint 8");
    engine.write(8).resolve({ dir: "ckpt/8" });
    await engine.reached("checkpoint 10");
    await turn();
    expect(ended).toBe(false);
    engine.write(10).resolve({ dir: "ckpt/10" });
    expect((await run).checkpointDir).toBe("ckpt/10");
  });

  it("on a stop finishes the step in flight and saves it once", async () => {
    for (const stopAt of [5, 4]) {
      const engine = new FakeEngine();
      const stop = new AbortController();
      const out = await new TrainingLoop(engine, {
        config,
        totalSteps: 10,
        signal: stop.signal,
        events: { step: (r) => r.step === stopAt && stop.abort() },
      }).run();
      expect(asked(engine, "step")).toEqual(Array.from({ length: stopAt }, (_, i) => i + 1));
      expect(asked(engine, "checkpoint")).toEqual(stopAt === 4 ? [4] : [4, 5]);
      expect(out).toMatchObject({ interrupted: true, progress: { step: stopAt }, checkpointDir: `ckpt/${stopAt}` });
    }
  });

  it("after a rollback to a checkpoint runs the later steps again and drops their rows", async () => {
    const engine = new FakeEngine();
    const at4 = { step: 4, tokensSeen: 80, samplesSeen: 20, dir: "ckpt/4" };
    engine.rollBackAt = { step: 7, to: at4 };
    const rolledBack: RollbackPoint[] = [];
    const loop = new TrainingLoop(engine, { config, totalSteps: 10, events: { rolledBack: (to) => rolledBack.push(to) } });
    const out = await loop.run();
    expect(rolledBack).toEqual([at4]);
    expect(asked(engine, "step")).toEqual([1, 2, 3, 4, 5, 6, 7, 5, 6, 7, 8, 9, 10]);
    expect(asked(engine, "validate")).toEqual([0, 3, 6, 6, 9, 10]);
    expect(out.steps.map((s) => s.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(out.validations.map((v) => v.step)).toEqual([0, 3, 6, 9, 10]);
    // the rerun steps continue from the checkpoint's progress, as the first run did
    expect(out.steps[4]).toMatchObject({ step: 5, tokensSeen: 80 + 8 * SEQ, samplesSeen: 28 });
    expect(out.checkpointDir).toBe("ckpt/10");
  });

  it("reports a checkpoint lost with its writer, lets the next one replace it, and saves the last step again", async () => {
    const engine = new FakeEngine();
    engine.lostOnce.add(8);
    engine.lostOnce.add(10);
    const lost: number[] = [];
    const out = await new TrainingLoop(engine, { config, totalSteps: 10, events: { checkpointLost: (at) => lost.push(at.step) } }).run();
    expect(asked(engine, "checkpoint")).toEqual([4, 8, 10, 10]);
    expect(lost).toEqual([8, 10]);
    expect(out.checkpointDir).toBe("ckpt/10");
  });

  it("fails at the next checkpoint when a write failed", async () => {
    const engine = new FakeEngine();
    engine.autoWrite = false;
    const run = new TrainingLoop(engine, { config, totalSteps: 10 }).run();
    await engine.reached("checkpoint 4");
    engine.write(4).reject(new Error("disk full"));
    await expect(run).rejects.toThrow("disk full");
    expect(asked(engine, "checkpoint")).toEqual([4]);
  });

  it("continues a resumed run from its checkpoint", async () => {
    const engine = new FakeEngine();
    const start = { progress: { step: 8, tokensSeen: 208, samplesSeen: 52 }, checkpointDir: "ckpt/8", lastLoss: 4.2, lastValLoss: 5.4 };
    const out = await new TrainingLoop(engine, { config, totalSteps: 10, start }).run();
    expect(engine.log).toEqual(["step 9", "validate 9", "step 10", "validate 10", "checkpoint 10"]);
    expect(out.steps[0]).toMatchObject({ step: 9, tokensSeen: 208 + 8 * SEQ, samplesSeen: 60 });
    const done = await new TrainingLoop(new FakeEngine(), { config, totalSteps: 8, start }).run();
    expect(done).toMatchObject({ interrupted: false, checkpointDir: "ckpt/8", steps: [] });
  });
});
