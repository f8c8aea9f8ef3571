// The distributed runner with pp 2 · tp 2 (4 real worker processes under the coordinator) and a batch ramp-up:
// the step losses are the single-rank losses of the same ramp, and the validation losses (replica 0's pipeline,
// at step 0 and at the end) the single-rank model's, within 1e-5 relative; at the end the final checkpoint
// continues the configured prompts in this process.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { runDistributed } from "../../actors/coordinator/run-distributed.ts";
import { loadTrainConfig } from "../../ml/train/config.ts";
import { sampleContinuations } from "../../ml/train/run.ts";
import { createBackends } from "../distributed/fixtures/markov-gpt-backends.ts";
import { relative, singleRankRun } from "../distributed/fixtures/single-rank.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-mp-val-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const STEPS = 5;
const configFile = path.join(root, "ramp.yaml");
// batch 2 → 8 sequences over 160 tokens: 1, 1, 2, 3, 4 micro-batches of 2 in steps 1…5
writeFileSync(
  configFile,
  `name: ramp-pp2tp2
seed: 11
model: {layers: 2, dModel: 16, heads: 2, seqLen: 16}
data: {corpus: brown, vocabSize: 300, heldOutPerGenre: 1}
optimizer: {lr: 0.01, clip: 0.5}
batch: {size: 8, microBatch: 2, rampStart: 2, rampIncrement: 2, rampTokens: 160}
schedule: {warmupTokens: 64, decayTokens: 5000}
train: {steps: ${STEPS}}
eval: {interval: 10, batches: 3}
checkpoint: {interval: 10, keep: 1}
samples: {prompts: ["ab", "cd"], tokens: 8}
parallel: {dp: 1, pp: 2, tp: 2}
`,
);

describe("model-parallel job with a batch ramp-up, validation and final samples (pp 2, tp 2)", () => {
  it("steps and validation losses equal the single-rank run's; the final model continues the prompts", async () => {
    const reference = await singleRankRun(configFile, STEPS);
    const out = new PassThrough();
    let text = "";
    out.on("data", (d: Buffer) => (text += d.toString()));
    const run = await runDistributed({
      configFile,
      runDir: path.join(root, "run"),
      backendsModule: path.resolve("test/distributed/fixtures/markov-gpt-backends.ts"),
      out: out as unknown as NodeJS.WriteStream,
      tty: false,
    });
    expect(run.steps.map((s) => s.batchSize)).toEqual([2, 2, 4, 6, 8]);
    run.steps.forEach((s, i) => expect(relative(s.loss, reference.losses[i]!), `step ${i + 1}`).toBeLessThan(1e-5));
    expect(run.validations.map((v) => v.step)).toEqual([0, STEPS]);
    expect(run.validations[0]!.loss).toBeGreaterThan(run.validations[1]!.loss);
    expect(relative(run.validations[1]!.loss, reference.finalVal)).toBeLessThan(1e-5);
    expect(text).toMatch(/validation loss \d+\.\d{3} nats\/token at step 5/);
    expect(run.samples.map((s) => s.prompt)).toEqual(["ab", "cd"]);
    for (const s of run.samples) expect(s.continuation).toMatch(/^[a-z]{1,8}$/); // the fixture decodes tokens to letters
    // the single-rank model trained the same way continues them the same way (it is the final model that sampled)
    const config = loadTrainConfig(configFile);
    const backends = createBackends();
    const model = await backends.createModel({ ...config.model, vocabSize: config.data.vocabSize }, config.seed);
    model.parameters().forEach((p, i) => p.data.set(reference.params[i]!));
    expect(await sampleContinuations(model, await backends.prepareCorpus(config), config)).toEqual(run.samples);
    expect(text).toContain(`"ab" → "ab${run.samples[0]!.continuation}"`);
  }, 120_000);
});
