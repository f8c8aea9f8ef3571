// `troupe train` of a dp 2 job started from a directory that is not the project's (a fresh temp dir: no
// node_modules to resolve the workers' `--import tsx` from, no data cache): the local cluster starts in that
// directory's .troupe, the job is submitted to it, its coordinator and workers run there, the job trains.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-cwd-"));
afterAll(async () => {
  // `troupe train` started the local cluster in root/.troupe (it outlives the job): stop it
  await promisify(execFile)("node", [path.resolve("bin/troupe.js"), "down", "--cluster", path.join(root, ".troupe")]).catch(
    () => undefined,
  );
  rmSync(root, { recursive: true, force: true });
});

describe("worker launch independent of the current directory", () => {
  it("trains a dp 2 job started from a temp dir", async () => {
    writeFileSync(
      path.join(root, "tiny-dp2.yaml"),
      `name: tiny-dp2
seed: 3
threads: 1
parallel: {dp: 2}
model: {layers: 1, dModel: 16, heads: 2, seqLen: 16}
data: {corpus: brown, vocabSize: 300, heldOutPerGenre: 1}
optimizer: {lr: 0.01}
batch: {size: 4, microBatch: 2}
schedule: {warmupTokens: 64, decayTokens: 5000}
train: {steps: 2}
eval: {interval: 100, batches: 1}
checkpoint: {interval: 100, keep: 1}
`,
    );
    const cli = path.resolve("bin/troupe.js");
    const { stdout } = await promisify(execFile)("node", [cli, "train", "tiny-dp2.yaml", "--no-samples"], {
      cwd: root,
      encoding: "utf8",
      timeout: 240_000,
    });
    expect(stdout).toMatch(/2 workers loaded/);
    expect(stdout).toMatch(/finished at step 2\/2/);
    const [header, ...rows] = readFileSync(path.join(root, "runs", "tiny-dp2", "metrics.csv"), "utf8")
      .trim()
      .split("\n");
    expect(header!.split(",")[0]).toBe("step");
    expect(rows.map((r) => Number(r.split(",")[0]))).toEqual(expect.arrayContaining([1, 2]));
    // the data cache is the run's directory's, filled once before the workers started
    expect(existsSync(path.join(root, ".troupe", "data"))).toBe(true);
  }, 300_000);
});
