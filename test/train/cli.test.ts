// `troupe train` as a user runs it: real child processes, the real Brown data, the native GPT.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const repo = path.resolve(import.meta.dirname, "../..");
const bin = path.join(repo, "bin/troupe.js");
const root = mkdtempSync(path.join(os.tmpdir(), "troupe-cli-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const config = `name: cli-tiny
seed: 5
logInterval: 1
model: {layers: 1, dModel: 32, heads: 2, seqLen: 32}
data: {corpus: brown, vocabSize: 512, heldOutPerGenre: 1, cacheDir: ${JSON.stringify(path.join(repo, ".troupe/data"))}}
optimizer: {lr: 0.003}
batch: {size: 8, microBatch: 4, rampStart: 4, rampIncrement: 4, rampTokens: 256}
schedule: {warmupTokens: 256, decayTokens: 20000}
train: {steps: 100}
eval: {interval: 10, batches: 2}
checkpoint: {interval: 40, keep: 2}
samples: {prompts: ["The"], tokens: 5}
`;
const configFile = path.join(root, "cli-tiny.yaml");
writeFileSync(configFile, config);

function troupe(...args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { cwd: repo, encoding: "utf8", timeout: 120_000 });
}

function manifestFiles(runDir: string, step: number): Record<string, string> {
  const m = JSON.parse(readFileSync(path.join(runDir, "checkpoints", `step-${String(step).padStart(8, "0")}`, "manifest.json"), "utf8"));
  return Object.fromEntries(m.files.map((f: { file: string; sha256: string }) => [f.file, f.sha256]));
}

describe("troupe train (CLI)", () => {
  it("explains itself with --help", () => {
    const r = troupe("train", "--help");
    expect(r.status).toBe(0);
    for (const flag of ["--resume", "--run-dir", "--steps", "--threads", "--no-samples", "metrics.csv", "Ctrl-C"])
      expect(r.stdout).toContain(flag);
  });

  it("refuses a bad config with one line naming the field, and starts nothing", () => {
    const bad = path.join(root, "bad.yaml");
    writeFileSync(bad, config.replace("heads: 2", "heads: 3").replace("lr: 0.003", "lr: fast"));
    const runDir = path.join(root, "never");
    const r = troupe("train", bad, "--run-dir", runDir);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^troupe: invalid config bad\.yaml: .*`model\.dModel`: got 32; dModel must be divisible by heads/);
    expect(r.stderr).toContain('`optimizer.lr`: got "fast"');
    expect(existsSync(runDir)).toBe(false);
    expect(troupe("train", configFile, "--steps", "0").stderr).toContain("troupe: --steps must be a positive integer, got '0'");
  });

  it("Ctrl-C saves a checkpoint and --resume in a new process ends bit-identical to an unbroken run", async () => {
    const straight = path.join(root, "straight");
    const a = troupe("train", configFile, "--run-dir", straight, "--progress", "lines");
    expect(a.stderr).toBe("");
    expect(a.status).toBe(0);
    expect(a.stdout).toMatch(/validation loss \d+\.\d+ nats\/token vs unigram entropy \d+\.\d+/);
    expect(a.stdout).toMatch(/samples:\n {2}"The" → "The/);
    for (const f of ["metrics.csv", "loss.svg", "train.log", "config.json", "tokenizer.json"])
      expect(existsSync(path.join(straight, f)), f).toBe(true);
    // the checkpoint names its tokenizer relative to the run (a copy in the run directory), not by a cache path
    const manifest = JSON.parse(readFileSync(path.join(straight, "checkpoints", "step-00000100", "manifest.json"), "utf8"));
    expect(manifest.data.tokenizerFile).toBe("tokenizer.json");

    const broken = path.join(root, "broken");
    const child = spawn(process.execPath, [bin, "train", configFile, "--run-dir", broken, "--progress", "lines"], { cwd: repo });
    let out = "";
    let sent = false;
    child.stdout.on("data", (d) => {
      out += d;
      if (!sent && /^step 3\/100/m.test(out)) {
        sent = true;
        child.kill("SIGINT");
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    expect(code).toBe(130); // stopped by Ctrl-C, with a checkpoint: not a success for a scheduler
    expect(out).toContain("SIGINT: finishing this step and saving a checkpoint");
    const stoppedAt = Number(/stopped at step (\d+)\/100/.exec(out)?.[1]);
    expect(stoppedAt).toBeGreaterThanOrEqual(3);
    expect(stoppedAt).toBeLessThan(100);
    expect(out).toContain("--resume");

    const b = troupe("train", configFile, "--run-dir", broken, "--resume", "--progress", "lines");
    expect(b.stderr).toBe("");
    expect(b.status).toBe(0);
    expect(b.stdout).toContain(`resuming from ${path.join(broken, "checkpoints", `step-${String(stoppedAt).padStart(8, "0")}`)}`);
    expect(manifestFiles(broken, 100)).toEqual(manifestFiles(straight, 100));
  }, 240_000);
});
