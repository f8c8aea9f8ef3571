// `data.corpus: prepared` trains on a folder made by `troupe data` (same layout as the Brown cache entry):
// pointed at the Brown cache entry itself, it must give exactly the Brown run's losses.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { prepareData } from "../../ml/data/mod.ts";
import { loadTrainConfig } from "../../ml/train/config.ts";
import { defaultBackends } from "../../ml/train/default-backends.ts";
import { runTraining } from "../../ml/train/run.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-prepared-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function config(data: string): string {
  return `name: p
seed: 5
model: {layers: 1, dModel: 16, heads: 2, seqLen: 16}
data: ${data}
optimizer: {lr: 0.01}
batch: {size: 4, microBatch: 2}
schedule: {warmupTokens: 64, decayTokens: 5000}
train: {steps: 3}
eval: {interval: 3, batches: 1}
checkpoint: {interval: 3, keep: 1}
`;
}

function lossColumn(runDir: string): string[] {
  const [header, ...rows] = readFileSync(path.join(runDir, "metrics.csv"), "utf8").trim().split("\n");
  const col = header!.split(",").indexOf("loss");
  return rows.map((r) => r.split(",")[col]!);
}

async function train(name: string, data: string): Promise<string> {
  const file = path.join(root, `${name}.yaml`);
  writeFileSync(file, config(data));
  const runDir = path.join(root, name);
  await runTraining(
    { configFile: file, runDir, out: new PassThrough() as unknown as NodeJS.WriteStream, tty: false, noSamples: true },
    defaultBackends(),
  );
  return runDir;
}

describe("data.corpus: prepared", () => {
  it("trains on a prepared folder exactly as on the corpus it was prepared from", async () => {
    const cacheDir = path.join(root, "cache");
    const prepared = await prepareData({ cacheDir, vocabSize: 300 });
    const brown = await train("brown", `{corpus: brown, vocabSize: 300, cacheDir: ${JSON.stringify(cacheDir)}}`);
    const fromFolder = await train("folder", `{corpus: prepared, vocabSize: 300, dir: ${JSON.stringify(prepared.dir)}}`);
    const losses = lossColumn(fromFolder);
    expect(losses.filter((l) => l !== "")).toHaveLength(3);
    expect(losses).toEqual(lossColumn(brown));
  }, 120_000);

  it("refuses a prepared corpus without a folder, and a folder with the Brown corpus", () => {
    const bad = path.join(root, "bad.yaml");
    writeFileSync(bad, config("{corpus: prepared, vocabSize: 300}"));
    expect(() => loadTrainConfig(bad)).toThrow(/data\.dir/);
    writeFileSync(bad, config("{corpus: brown, vocabSize: 300, dir: /tmp}"));
    expect(() => loadTrainConfig(bad)).toThrow(/data\.dir/);
  });

  it("refuses a vocabulary smaller than the folder's tokenizer, naming both", async () => {
    const prepared = await prepareData({ cacheDir: path.join(root, "cache"), vocabSize: 300 });
    await expect(train("small-vocab", `{corpus: prepared, vocabSize: 280, dir: ${JSON.stringify(prepared.dir)}}`)).rejects.toThrow(
      /data\.vocabSize is 280 .* 300 tokens/,
    );
  });
});
