import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { runTraining } from "../../ml/train/run.ts";
import { charBackends } from "./fixtures/char-corpus.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-run-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const VOCAB = 300;
const SEQ = 16;
const yaml = `name: tiny
seed: 3
model: {layers: 1, dModel: 8, heads: 1, seqLen: ${SEQ}}
data: {corpus: brown, vocabSize: ${VOCAB}, heldOutPerGenre: 1}
optimizer: {lr: 0.1}
batch: {size: 8, microBatch: 4, rampStart: 4, rampIncrement: 4, rampTokens: 256}
schedule: {warmupTokens: 64, decayTokens: 5000}
train: {steps: 30}
eval: {interval: 10, batches: 2}
checkpoint: {interval: 10, keep: 2}
logInterval: 10
samples: {prompts: ["ab", "c"], tokens: 5}
`;

function output(): { stream: NodeJS.WriteStream; text: () => string } {
  const s = new PassThrough();
  let text = "";
  s.on("data", (d) => (text += d));
  return { stream: s as unknown as NodeJS.WriteStream, text: () => text };
}

describe("runTraining", () => {
  const configFile = path.join(root, "tiny.yaml");
  writeFileSync(configFile, yaml);
  // the fixture model's vocabulary comes from data.vocabSize
  const backends = charBackends(VOCAB, SEQ);

  it("trains and writes metrics, loss curve, log, checkpoints, samples and the entropy comparison", async () => {
    const runDir = path.join(root, "a");
    const out = output();
    const r = await runTraining({ configFile, runDir, out: out.stream, tty: false }, backends);
    expect(r.outcome.progress.step).toBe(30);
    const text = out.text();
    expect(text).toMatch(/step 10\/30 \| loss \d+\.\d+ \| val \d+\.\d+@0 \| lr .* \| batch 8 \| [\d,]+ tok\/s \| ETA/);
    expect(text).toMatch(/step 20\/30 \| loss \d+\.\d+ \| val \d+\.\d+@10 \|/); // the latest validation and its step
    expect(text).toMatch(/validation loss \d+\.\d+ nats\/token vs unigram entropy 5\.704: (NOT )?below it by \d/);
    expect(text).toContain('"ab" → "ab');
    expect(r.samples).toHaveLength(2);
    expect(r.samples[0].continuation).toHaveLength(5);
    const csv = readFileSync(path.join(runDir, "metrics.csv"), "utf8").trim().split("\n");
    expect(csv).toHaveLength(1 + 1 + 30); // header, step-0 validation, 30 steps
    expect(readFileSync(path.join(runDir, "loss.svg"), "utf8")).toContain('class="train"');
    const log = readFileSync(path.join(runDir, "train.log"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(log.filter((l) => l.msg === "step")).toHaveLength(30);
    expect(existsSync(path.join(runDir, "checkpoints", "step-00000030", "manifest.json"))).toBe(true);
  });

  it("refuses to start over an existing run without --resume, and resumes with it", async () => {
    const runDir = path.join(root, "b");
    await runTraining({ configFile, runDir, steps: 12, out: output().stream, tty: false, noSamples: true }, backends);
    await expect(runTraining({ configFile, runDir, out: output().stream, tty: false }, backends)).rejects.toThrow(
      /already holds checkpoints of a run: pass --resume/,
    );
    const out = output();
    const r = await runTraining({ configFile, runDir, resume: true, out: out.stream, tty: false, noSamples: true }, backends);
    expect(out.text()).toContain("resuming from");
    expect(r.outcome.progress.step).toBe(30);
    const steps = readFileSync(path.join(runDir, "metrics.csv"), "utf8")
      .trim()
      .split("\n")
      .slice(1)
      .map((l) => Number(l.split(",")[0]));
    expect(steps.filter((s) => s > 0)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  });

  it("refuses --resume with nothing to resume and a bad config before creating anything", async () => {
    await expect(runTraining({ configFile, runDir: path.join(root, "c"), resume: true }, backends)).rejects.toThrow(
      /nothing to resume: no checkpoint in/,
    );
    const bad = path.join(root, "bad.yaml");
    writeFileSync(bad, yaml.replace("lr: 0.1", "lr: -1"));
    await expect(runTraining({ configFile: bad, runDir: path.join(root, "d") }, backends)).rejects.toThrow("`optimizer.lr`: got -1");
    expect(existsSync(path.join(root, "d"))).toBe(false);
  });
});
