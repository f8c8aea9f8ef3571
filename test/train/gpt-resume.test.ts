// The bit-identical resume check with the real native GPT and AdamW (not the test fixture model).
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { latestCheckpointDir } from "../../ml/checkpoint/store.ts";
import { createGpt } from "../../ml/model/mod.ts";
import { createAdamW } from "../../ml/optim/mod.ts";
import { parseTrainConfig } from "../../ml/train/config.ts";
import { LocalEngine } from "../../ml/train/local-engine.ts";
import { TrainingLoop } from "../../ml/train/loop.ts";
import { MarkovData } from "./fixtures/bigram.ts";

const VOCAB = 64;
const SEQ = 16;
const root = mkdtempSync(path.join(os.tmpdir(), "troupe-gpt-resume-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const config = parseTrainConfig({
  seed: 11,
  model: { layers: 2, dModel: 32, heads: 4, seqLen: SEQ },
  data: { corpus: "brown", vocabSize: 300, heldOutPerGenre: 1 },
  optimizer: { lr: 3e-3 },
  batch: { size: 8, microBatch: 4, rampStart: 4, rampIncrement: 4, rampTokens: 200 },
  schedule: { warmupTokens: 100, decayTokens: 5000 },
  train: { steps: 12 },
  eval: { interval: 5, batches: 2 },
  checkpoint: { interval: 5, keep: 2 },
});

async function trainer(dir: string, totalSteps: number, initSeed: number, resumeFrom?: string) {
  const model = await createGpt({ ...config.model, vocabSize: VOCAB }, { seed: initSeed });
  const optimizer = createAdamW(model, config.optimizer);
  const engine = new LocalEngine({
    config,
    model,
    optimizer,
    data: new MarkovData(VOCAB, SEQ, 5),
    checkpointRoot: dir,
    tokenizer: { file: "none" },
  });
  const t = new TrainingLoop(engine, { config, totalSteps, start: resumeFrom !== undefined ? engine.resumeFrom(resumeFrom) : undefined });
  return { t, model, optimizer };
}

const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe("one rank with the native GPT", () => {
  it("learns and resumes bit-identically to a run that never stopped", async () => {
    const straight = await trainer(path.join(root, "straight"), 12, config.seed);
    const first = await straight.t.run();
    expect(first.lastLoss!).toBeLessThan(Math.log(VOCAB));

    const part = await trainer(path.join(root, "split"), 7, config.seed);
    await part.t.run();
    // different init: all state must come from disk
    const resumed = await trainer(path.join(root, "split"), 12, 999, latestCheckpointDir(path.join(root, "split"))!);
    expect(resumed.t.progress.step).toBe(7);
    await resumed.t.run();

    expect(resumed.optimizer.stepCount).toBe(12);
    const a = straight.model.parameters();
    const b = resumed.model.parameters();
    expect(b.map((p) => p.name)).toEqual(a.map((p) => p.name));
    a.forEach((p, i) => expect(bytes(b[i].data).equals(bytes(p.data)), p.name).toBe(true));
    const sa = straight.optimizer.state();
    resumed.optimizer.state().forEach((s, i) => expect(bytes(s.data).equals(bytes(sa[i].data)), s.name).toBe(true));
  });
});
