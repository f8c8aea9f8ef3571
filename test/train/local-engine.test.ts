import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { latestCheckpointDir, listCheckpoints } from "../../ml/checkpoint/store.ts";
import { parseTrainConfig, type TrainConfig } from "../../ml/train/config.ts";
import { NonFiniteLossError } from "../../ml/train/errors.ts";
import { batchSizeAt, lrAt } from "../../ml/train/schedule.ts";
import { clipScaleFor } from "../../ml/train/step.ts";
import { LocalEngine } from "../../ml/train/local-engine.ts";
import { TrainingLoop, type LoopEvents } from "../../ml/train/loop.ts";
import type { StepReport } from "../../ml/train/types.ts";
import { BigramModel, MarkovData, PlainAdamW } from "./fixtures/bigram.ts";

const VOCAB = 24;
const SEQ = 16;
const root = mkdtempSync(path.join(os.tmpdir(), "troupe-trainer-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function config(overrides: Record<string, unknown> = {}): TrainConfig {
  return parseTrainConfig({
    seed: 7,
    model: { layers: 1, dModel: 8, heads: 1, seqLen: SEQ },
    data: { corpus: "brown", vocabSize: 512, heldOutPerGenre: 1 },
    optimizer: { lr: 0.05 },
    batch: { size: 8, microBatch: 2, rampStart: 4, rampIncrement: 2, rampTokens: 256 },
    schedule: { warmupTokens: 128, decayTokens: 4000 },
    train: { steps: 12 },
    eval: { interval: 4, batches: 2 },
    checkpoint: { interval: 4, keep: 5 },
    ...overrides,
  });
}

interface Extra {
  tokenizer?: { file: string; sha256?: string };
  signal?: AbortSignal;
  events?: LoopEvents<unknown>;
  /** A checkpoint folder to continue from. */
  resumeFrom?: string;
}

/** One rank: the bigram model in this process, trained by the loop. */
function trainer(c: TrainConfig, dir: string, totalSteps: number, modelSeed = 1, extra: Extra = {}) {
  const model = new BigramModel(VOCAB, SEQ, modelSeed);
  const optimizer = new PlainAdamW(model);
  const engine = new LocalEngine({
    config: c,
    model,
    optimizer,
    data: new MarkovData(VOCAB, SEQ, 3),
    checkpointRoot: dir,
    tokenizer: extra.tokenizer ?? { file: "none" },
  });
  const start = extra.resumeFrom !== undefined ? engine.resumeFrom(extra.resumeFrom) : undefined;
  const t = new TrainingLoop(engine, { config: c, totalSteps, start, signal: extra.signal, events: extra.events });
  return { t, engine, model, optimizer };
}

const bytesOf = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe("training on one rank (LocalEngine under the TrainingLoop)", () => {
  it("learns, following the LR schedule and batch ramp-up in tokens", async () => {
    const c = config({ train: { steps: 40 }, optimizer: { lr: 0.1 } });
    const reports: StepReport[] = [];
    const vals: number[] = [];
    const { t } = trainer(c, path.join(root, "learn"), 40, 1, {
      events: { step: (r) => reports.push(r), validation: (_p, v) => vals.push(v) },
    });
    const out = await t.run();
    expect(out.interrupted).toBe(false);
    expect(out.progress.step).toBe(40);
    expect(vals.at(-1)!).toBeLessThan(vals[0] - 1); // from ~ln(24)=3.18 towards the chain's entropy
    let tokens = 0;
    const lr = { peak: 0.1, warmupTokens: 128, decayTokens: 4000, minRatio: 0.1 };
    const ramp = { start: 4, increment: 2, final: 8, rampTokens: 256 };
    for (const r of reports) {
      const batch = batchSizeAt(ramp, tokens);
      tokens += batch * SEQ;
      expect(r.batchSize).toBe(batch);
      expect(r.tokensSeen).toBe(tokens);
      expect(r.lr).toBe(lrAt(lr, tokens));
    }
    expect(reports.slice(0, 3).map((r) => r.batchSize)).toEqual([4, 4, 6]);
  });

  it("gradient accumulation matches one big micro-batch", async () => {
    const big = trainer(config({ batch: { size: 8, microBatch: 8 } }), path.join(root, "acc1"), 1);
    const small = trainer(config({ batch: { size: 8, microBatch: 2 } }), path.join(root, "acc2"), 1);
    const a = await big.t.step();
    const b = await small.t.step();
    expect(b.loss).toBeCloseTo(a.loss, 6);
    expect(b.gradNorm).toBeCloseTo(a.gradNorm, 6);
    const pa = big.model.parameters()[0].data;
    const pb = small.model.parameters()[0].data;
    for (let i = 0; i < pa.length; i++) expect(pb[i]).toBeCloseTo(pa[i], 5);
  });

  it("clips the global gradient norm to optimizer.clip", async () => {
    expect(clipScaleFor(4, 1)).toBeCloseTo(1 / (4 + 1e-6), 12);
    expect(clipScaleFor(0.5, 1)).toBe(1);
    const { t } = trainer(config({ optimizer: { lr: 0.05, clip: 1e-3 } }), path.join(root, "clip"), 1);
    const r = await t.step();
    expect(r.gradNorm).toBeGreaterThan(1e-3);
    expect(r.clipped).toBe(true);
  });

  it("stops with a clear error on a non-finite loss", async () => {
    const { t, model } = trainer(config(), path.join(root, "nan"), 5);
    await t.step();
    model.parameters()[1].data[3] = Number.NaN;
    const failure = t.step();
    await expect(failure).rejects.toThrow(NonFiniteLossError);
    await expect(failure).rejects.toThrow(/step 2: the loss is NaN \(not finite\); training stopped/);
    expect(t.progress.step).toBe(1); // the failed step does not count
  });

  it("resumes bit-identically to a run that never stopped", async () => {
    const c = config({ train: { steps: 10 }, checkpoint: { interval: 3, keep: 2 } });
    const straight = trainer(c, path.join(root, "straight"), 10);
    await straight.t.run();

    const first = trainer(c, path.join(root, "split"), 6);
    await first.t.run();
    expect(path.basename(latestCheckpointDir(path.join(root, "split"))!)).toBe("step-00000006");
    // A fresh instance with a different initialisation: everything must come from the checkpoint.
    const second = trainer(c, path.join(root, "split"), 10, 99, { resumeFrom: latestCheckpointDir(path.join(root, "split"))! });
    expect(second.t.progress).toEqual(first.t.progress);
    await second.t.run();

    expect(second.optimizer.stepCount).toBe(straight.optimizer.stepCount);
    straight.model.parameters().forEach((p, i) => expect(bytesOf(second.model.parameters()[i].data).equals(bytesOf(p.data))).toBe(true));
    straight.optimizer.state().forEach((s, i) => expect(bytesOf(second.optimizer.state()[i].data).equals(bytesOf(s.data))).toBe(true));
    expect(listCheckpoints(path.join(root, "split")).map((x) => x.step)).toEqual([9, 10]);
  });

  it("refuses to resume into a different model shape or seed", async () => {
    const dir = path.join(root, "mismatch");
    await trainer(config(), dir, 1).t.run();
    const other = trainer(config({ seed: 8 }), dir, 2);
    expect(() => other.engine.resumeFrom(latestCheckpointDir(dir)!)).toThrow("`seed` was 7 in that run and is 8 now");
    const heldOut = trainer(config({ data: { corpus: "brown", vocabSize: 512, heldOutPerGenre: 3 } }), dir, 2);
    expect(() => heldOut.engine.resumeFrom(latestCheckpointDir(dir)!)).toThrow("`data.heldOutPerGenre` was 1 in that run and is 3 now");
    const withTokenizer = path.join(root, "mismatch-tokenizer");
    await trainer(config(), withTokenizer, 1, 1, { tokenizer: { file: "t.json", sha256: "a".repeat(64) } }).t.run();
    const same = trainer(config(), withTokenizer, 2, 1, { tokenizer: { file: "t.json", sha256: "a".repeat(64) } });
    expect(() => same.engine.resumeFrom(latestCheckpointDir(withTokenizer)!)).not.toThrow();
    const changed = trainer(config(), withTokenizer, 2, 1, { tokenizer: { file: "t.json", sha256: "b".repeat(64) } });
    expect(() => changed.engine.resumeFrom(latestCheckpointDir(withTokenizer)!)).toThrow(
      "the tokenizer (t.json) differs from the one that run used",
    );
    const shape = trainer(config({ model: { layers: 2, dModel: 8, heads: 1, seqLen: SEQ } }), dir, 2);
    expect(() => shape.engine.resumeFrom(latestCheckpointDir(dir)!)).toThrow(/`model` was .*"layers":1/);
  });

  it("on abort finishes the step in flight, saves a checkpoint and reports the interruption", async () => {
    const ac = new AbortController();
    const dir = path.join(root, "abort");
    const { t } = trainer(config(), dir, 12, 1, {
      signal: ac.signal,
      events: { step: (r) => r.step === 5 && ac.abort() },
    });
    const out = await t.run();
    expect(out.interrupted).toBe(true);
    expect(out.progress.step).toBe(5);
    expect(path.basename(latestCheckpointDir(dir)!)).toBe("step-00000005");
  });
});
