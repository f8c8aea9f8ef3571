// `troupe train --resume` when the newest checkpoint is corrupt: it says which file is bad and resumes from the
// previous good one; with no good checkpoint at all it refuses, naming every bad file.
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { findCorruption } from "../../ml/checkpoint/verify.ts";
import { runTraining } from "../../ml/train/run.ts";
import { charBackends } from "./fixtures/char-corpus.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-resume-corrupt-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const VOCAB = 300;
const SEQ = 16;
const yaml = `name: tiny
seed: 3
model: {layers: 1, dModel: 8, heads: 1, seqLen: ${SEQ}}
data: {corpus: brown, vocabSize: ${VOCAB}, heldOutPerGenre: 1}
optimizer: {lr: 0.1}
batch: {size: 8, microBatch: 4}
schedule: {warmupTokens: 64, decayTokens: 5000}
train: {steps: 12}
eval: {interval: 100, batches: 1}
checkpoint: {interval: 4, keep: 3}
logInterval: 100
samples: {prompts: [], tokens: 1}
`;

function output(): { stream: NodeJS.WriteStream; text: () => string } {
  const s = new PassThrough();
  let text = "";
  s.on("data", (d) => (text += d));
  return { stream: s as unknown as NodeJS.WriteStream, text: () => text };
}

describe("resuming past a corrupt newest checkpoint", () => {
  const configFile = path.join(root, "tiny.yaml");
  writeFileSync(configFile, yaml);
  const backends = charBackends(VOCAB, SEQ);
  const ckpt = (runDir: string, step: number) => path.join(runDir, "checkpoints", `step-${String(step).padStart(8, "0")}`);

  it("names the bad file and resumes from the previous checkpoint", async () => {
    const runDir = path.join(root, "a");
    await runTraining({ configFile, runDir, steps: 8, out: output().stream, tty: false }, backends);
    truncateSync(path.join(ckpt(runDir, 8), "model-p0-t0.safetensors"), 64);
    const out = output();
    const r = await runTraining({ configFile, runDir, resume: true, out: out.stream, tty: false }, backends);
    const size = JSON.parse(readFileSync(path.join(ckpt(runDir, 4), "manifest.json"), "utf8")).files[0].bytes;
    expect(out.text()).toContain(
      `checkpoint ${ckpt(runDir, 8)} is corrupt (model-p0-t0.safetensors: truncated or damaged: 64 bytes, the manifest says ${size}); resuming from ${ckpt(runDir, 4)}`,
    );
    expect(out.text()).toContain(`resuming from ${ckpt(runDir, 4)} (step 4,`);
    expect(r.outcome.progress.step).toBe(12);
    expect(r.outcome.checkpointDir).toBe(ckpt(runDir, 12));
    // the corrupt folder was kept aside, so step 8 was saved afresh rather than kept as it was
    expect(out.text()).toContain(`kept for inspection: ${ckpt(runDir, 8)}.corrupt`);
    expect(existsSync(`${ckpt(runDir, 8)}.corrupt`)).toBe(true);
    expect(findCorruption(ckpt(runDir, 8))).toBeUndefined();
  });

  it("refuses to resume when no checkpoint is good, naming each bad file", async () => {
    const runDir = path.join(root, "b");
    await runTraining({ configFile, runDir, steps: 4, out: output().stream, tty: false }, backends);
    rmSync(path.join(ckpt(runDir, 4), "manifest.json"));
    await expect(runTraining({ configFile, runDir, resume: true, out: output().stream, tty: false }, backends)).rejects.toThrow(
      `nothing to resume: no good checkpoint in ${path.join(runDir, "checkpoints")}: checkpoint ${ckpt(runDir, 4)} is corrupt (manifest.json: is missing)`,
    );
  });
});
