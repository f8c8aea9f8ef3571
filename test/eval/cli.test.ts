// `troupe eval` and `troupe generate` end to end on a real checkpoint of a random-init model with a
// small trained BPE tokenizer (tokenizer.json beside the checkpoints), run as child processes.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { saveCheckpoint } from "../../ml/checkpoint/store.ts";
import { createGpt } from "../../ml/model/mod.ts";
import { BpeTokenizer, saveTokenizer, trainBpeOnTexts } from "../../ml/data/mod.ts";
import { BYTES_TOKENIZER, loadModel } from "../../ml/eval/load-model.ts";

async function writeRandomCheckpoint(root: string, vocabSize: number, tokenizerFile: string, tokenizerSha256?: string): Promise<void> {
  const model = await createGpt({ vocabSize, seqLen: 48, layers: 1, dModel: 32, heads: 2 }, { seed: 5 });
  saveCheckpoint(
    root,
    {
      step: 2,
      tokensSeen: 0,
      samplesSeen: 0,
      seed: 5,
      data: { tokenizerFile, tokenizerSha256, seed: 5, nextSample: 0 },
      config: { model: { layers: 1, dModel: 32, heads: 2, seqLen: 48 } },
      params: model.parameters(),
      optimizerState: [],
      optimizerStepCount: 0,
    },
    { keep: 1 },
  );
}

const run = promisify(execFile);
const troupe = (args: string[]) =>
  run(process.execPath, ["bin/troupe.js", ...args], { cwd: path.resolve(import.meta.dirname, "../.."), timeout: 60_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

// Each case starts node + tsx a few times: generous timeouts for a loaded CI machine.
describe("troupe eval / generate", { timeout: 120_000 }, () => {
  let dir: string;
  let root: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "troupe-eval-cli-"));
    root = path.join(dir, "checkpoints");
    const text = "one two three four five six seven eight nine ten. The cat sat on the mat. ".repeat(20);
    const tokenizer = BpeTokenizer.fromModel(trainBpeOnTexts([text], { vocabSize: 300 }));
    saveTokenizer(tokenizer, path.join(dir, "tokenizer.json"));
    const sha256 = createHash("sha256")
      .update(readFileSync(path.join(dir, "tokenizer.json")))
      .digest("hex");
    await writeRandomCheckpoint(root, tokenizer.vocabSize, "tokenizer.json", sha256);
    const lines = [
      { split: "train", context: "one two", target: "three" },
      { split: "test", context: "four five", target: "six" },
      { split: "test", context: "seven eight", target: "nine" },
    ];
    writeFileSync(path.join(dir, "count.jsonl"), lines.map((l) => JSON.stringify(l)).join("\n"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("evaluates a task at two shot counts, runs the bias probe and writes JSON", async () => {
    const out = path.join(dir, "results.json");
    const r = await troupe([
      "eval",
      "--checkpoint",
      root,
      "--task",
      path.join(dir, "count.jsonl"),
      "--shots",
      "0,1",
      "--bias",
      "--out",
      out,
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/count\s+0\s+2\s+acc/);
    expect(r.stdout).toMatch(/count\s+1\s+2\s+acc/);
    const json = JSON.parse(readFileSync(out, "utf8"));
    expect(json.step).toBe(2);
    expect(json.results.map((s: { shots: number }) => s.shots)).toEqual([0, 1]);
    expect(r.stdout).toMatch(/\bnurse\s+\S+\s+\S+\s+-?\d+\.\d{3}\s+(male|female)/);
    expect(r.stdout).toMatch(/of 30 occupations lean male/);
    expect(json.bias.occupations).toHaveLength(30);
  });

  it("generates the same greedy text with and without the KV cache", async () => {
    const args = ["generate", "--checkpoint", root, "--prompt", "Hello", "--greedy", "--max-tokens", "60"];
    const cached = await troupe(args);
    const recomputed = await troupe([...args, "--no-cache"]);
    expect(cached.code).toBe(0);
    expect(cached.stdout.startsWith("Hello")).toBe(true);
    expect(recomputed.stdout).toBe(cached.stdout);
  });

  it('loads a checkpoint\'s tokenizer, or one byte per token when it names "bytes"', async () => {
    const bpe = await loadModel(root);
    expect(bpe.tokenizer.decode(bpe.tokenizer.encode("The cat sat."))).toBe("The cat sat.");
    expect(bpe.endOfText).toBe(bpe.model.config.vocabSize - 1);
    const bytesRoot = path.join(dir, "bytes-checkpoints");
    await writeRandomCheckpoint(bytesRoot, 257, BYTES_TOKENIZER);
    const bytes = await loadModel(bytesRoot);
    expect(Array.from(bytes.tokenizer.encode("é"))).toEqual([0xc3, 0xa9]);
    expect(bytes.endOfText).toBe(256);
    await expect(loadModel(bytesRoot, { tokenizerFile: path.join(dir, "tokenizer.json") })).rejects.toThrow(
      /the tokenizer has 301 tokens but the model only 257/,
    );
    await expect(loadModel(root, { tokenizerFile: "missing.json" })).rejects.toThrow(/tokenizer missing\.json not found/);
    // a tokenizer file that changed since training is refused
    const changedRoot = path.join(dir, "changed-checkpoints");
    await writeRandomCheckpoint(changedRoot, 301, path.join(dir, "tokenizer.json"), "0".repeat(64));
    await expect(loadModel(changedRoot)).rejects.toThrow(/is not the one this checkpoint was trained with/);
  });

  it("fails with one clear line on bad input", async () => {
    const missing = await troupe(["generate", "--checkpoint", path.join(dir, "nope"), "--prompt", "x"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^troupe: checkpoint .*nope does not exist\n$/);
    const badTopP = await troupe(["generate", "--checkpoint", root, "--prompt", "x", "--top-p", "1.5"]);
    expect(badTopP.stderr).toMatch(/^troupe: --top-p must be a number in/);
    const nothing = await troupe(["eval", "--checkpoint", root]);
    expect(nothing.stderr).toMatch(/^troupe: nothing to evaluate/);
    const badTask = await troupe(["eval", "--checkpoint", root, "--task", path.join(dir, "none.jsonl")]);
    expect(badTask.stderr).toMatch(/none\.jsonl: cannot read task file \(ENOENT\)/);
  });
});
