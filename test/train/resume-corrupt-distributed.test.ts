// Distributed (dp 2, real worker processes): checkpoints written in the background after every step are whole
// and `latest`; `--resume` past a corrupt newest checkpoint names the bad file and every worker continues from
// the previous one.
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { latestCheckpointDir } from "../../ml/checkpoint/store.ts";
import { findCorruption, latestGoodCheckpoint } from "../../ml/checkpoint/verify.ts";
import { runDistributed } from "../../actors/coordinator/run-distributed.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-dist-corrupt-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const backendsModule = path.resolve("test/distributed/fixtures/markov-gpt-backends.ts");

const configFile = path.join(root, "dp2.yaml");
writeFileSync(
  configFile,
  `name: dp2-corrupt
seed: 11
model: {layers: 1, dModel: 16, heads: 2, seqLen: 16}
data: {corpus: brown, vocabSize: 300, heldOutPerGenre: 1}
optimizer: {lr: 0.01}
batch: {size: 8, microBatch: 2}
schedule: {warmupTokens: 64, decayTokens: 5000}
train: {steps: 3}
eval: {interval: 100, batches: 1}
checkpoint: {interval: 1, keep: 5}
samples: {prompts: [], tokens: 1}
parallel: {dp: 2}
`,
);

function output(): { stream: NodeJS.WriteStream; text: () => string } {
  const s = new PassThrough();
  let text = "";
  s.on("data", (d) => (text += d));
  return { stream: s as unknown as NodeJS.WriteStream, text: () => text };
}

describe("distributed checkpoints: background writes and resuming past a corrupt one", () => {
  it("writes every checkpoint whole, then resumes from the previous one when the newest is corrupt", async () => {
    const runDir = path.join(root, "run");
    const ckpt = (step: number) => path.join(runDir, "checkpoints", `step-${String(step).padStart(8, "0")}`);
    const first = await runDistributed({ configFile, runDir, steps: 2, backendsModule, out: output().stream, tty: false });
    expect(first.checkpointDir).toBe(ckpt(2));
    expect(latestCheckpointDir(path.join(runDir, "checkpoints"))).toBe(ckpt(2));
    expect(latestGoodCheckpoint(path.join(runDir, "checkpoints"))).toEqual({ dir: ckpt(2), skipped: [] });

    const file = path.join(ckpt(2), "optimizer-p0-t0.safetensors");
    const bytes = readFileSync(file);
    bytes[bytes.length - 1]! ^= 0x40;
    writeFileSync(file, bytes);
    const out = output();
    const resumed = await runDistributed({ configFile, runDir, resume: true, backendsModule, out: out.stream, tty: false });
    expect(out.text()).toMatch(
      new RegExp(
        `checkpoint ${ckpt(2)} is corrupt \\(optimizer-p0-t0\\.safetensors: sha256 [0-9a-f]{12}… does not match the manifest's [0-9a-f]{12}…\\); resuming from ${ckpt(1)}\\n`,
      ),
    );
    expect(resumed.steps.map((s) => s.step)).toEqual([2, 3]);
    expect(resumed.checkpointDir).toBe(ckpt(3));
    expect(latestGoodCheckpoint(path.join(runDir, "checkpoints"))).toEqual({ dir: ckpt(3), skipped: [] });
    expect(findCorruption(ckpt(2))).toBeUndefined(); // saved afresh: the corrupt one was set aside
  }, 120_000);
});
