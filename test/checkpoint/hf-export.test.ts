// `troupe export --hf`: the exported folder has GPT-2's names, shapes and layouts (checked against the checkpoint
// tensor by tensor), and a plain GPT-2 forward pass written here from Hugging Face's definition, run on the exported
// tensors alone, gives the log-probabilities troupe's model gives. Where Python with torch and transformers is
// installed, transformers itself loads the folder and continues a prompt greedily as `troupe generate` does.
import { execFile, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hfNameOf } from "../../ml/checkpoint/hf-export.ts";
import { readSafetensors, type TensorEntry } from "../../ml/checkpoint/safetensors.ts";
import { saveCheckpoint } from "../../ml/checkpoint/store.ts";
import { BpeTokenizer, saveTokenizer, trainBpeOnTexts } from "../../ml/data/mod.ts";
import { loadModel } from "../../ml/eval/load-model.ts";
import { createGpt } from "../../ml/model/mod.ts";
import type { GptConfig } from "../../ml/model/types.ts";

const run = promisify(execFile);
const troupe = (args: string[]) =>
  run(process.execPath, ["bin/troupe.js", ...args], { cwd: path.resolve(import.meta.dirname, "../.."), timeout: 60_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

const config: GptConfig = { vocabSize: 0, seqLen: 16, layers: 2, dModel: 16, heads: 2 };

/** GPT-2's forward pass from its definition (float64), over the exported tensors by their Hugging Face names. */
function gpt2LogProbs(t: Map<string, TensorEntry>, c: GptConfig, ids: number[]): number[][] {
  const d = c.dModel,
    T = ids.length,
    hd = d / c.heads;
  const w = (n: string) => t.get(n)!.data;
  const ln = (x: number[], g: Float32Array, b: Float32Array) => {
    const m = x.reduce((s, v) => s + v, 0) / d;
    const v = x.reduce((s, y) => s + (y - m) ** 2, 0) / d;
    return x.map((y, i) => ((y - m) / Math.sqrt(v + 1e-5)) * g[i]! + b[i]!);
  };
  const mm = (x: number[], W: Float32Array, bias: Float32Array, out: number) =>
    Array.from({ length: out }, (_, j) => x.reduce((s, v, i) => s + v * W[i * out + j]!, bias[j]!));
  const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
  let x = ids.map((id, p) =>
    Array.from({ length: d }, (_, i) => w("transformer.wte.weight")[id * d + i]! + w("transformer.wpe.weight")[p * d + i]!),
  );
  for (let l = 0; l < c.layers; l++) {
    const p = `transformer.h.${l}`;
    const qkv = x.map((r) =>
      mm(ln(r, w(`${p}.ln_1.weight`), w(`${p}.ln_1.bias`)), w(`${p}.attn.c_attn.weight`), w(`${p}.attn.c_attn.bias`), 3 * d),
    );
    const heads = x.map(() => new Array<number>(d).fill(0));
    for (let h = 0; h < c.heads; h++) {
      for (let i = 0; i < T; i++) {
        const scores = Array.from({ length: i + 1 }, (_, j) => {
          let s = 0;
          for (let k = 0; k < hd; k++) s += qkv[i]![h * hd + k]! * qkv[j]![d + h * hd + k]!;
          return s / Math.sqrt(hd);
        });
        const mx = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - mx));
        const z = e.reduce((a, b) => a + b, 0);
        for (let k = 0; k < hd; k++) heads[i]![h * hd + k] = e.reduce((s, a, j) => s + (a / z) * qkv[j]![2 * d + h * hd + k]!, 0);
      }
    }
    x = x.map((r, i) => {
      const a = mm(heads[i]!, w(`${p}.attn.c_proj.weight`), w(`${p}.attn.c_proj.bias`), d);
      const r1 = r.map((v, k) => v + a[k]!);
      const f = mm(ln(r1, w(`${p}.ln_2.weight`), w(`${p}.ln_2.bias`)), w(`${p}.mlp.c_fc.weight`), w(`${p}.mlp.c_fc.bias`), 4 * d).map(gelu);
      const m = mm(f, w(`${p}.mlp.c_proj.weight`), w(`${p}.mlp.c_proj.bias`), d);
      return r1.map((v, k) => v + m[k]!);
    });
  }
  const wte = w("transformer.wte.weight");
  return x.map((r) => {
    const h = ln(r, w("transformer.ln_f.weight"), w("transformer.ln_f.bias"));
    const logits = Array.from({ length: c.vocabSize }, (_, v) => h.reduce((s, y, k) => s + y * wte[v * d + k]!, 0));
    const mx = Math.max(...logits);
    const lse = mx + Math.log(logits.reduce((s, y) => s + Math.exp(y - mx), 0));
    return logits.map((y) => y - lse);
  });
}

describe("troupe export --hf", { timeout: 120_000 }, () => {
  let dir: string;
  let root: string;
  let out: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "troupe-hf-"));
    root = path.join(dir, "checkpoints");
    out = path.join(dir, "hf");
    const text = "one two three four five six seven eight nine ten. The cat sat on the mat. ".repeat(20);
    const tokenizer = BpeTokenizer.fromModel(trainBpeOnTexts([text], { vocabSize: 300 }));
    saveTokenizer(tokenizer, path.join(dir, "tokenizer.json"));
    config.vocabSize = tokenizer.vocabSize;
    const model = await createGpt(config, { seed: 9 });
    const sha = createHash("sha256")
      .update(readFileSync(path.join(dir, "tokenizer.json")))
      .digest("hex");
    saveCheckpoint(
      root,
      {
        step: 7,
        tokensSeen: 0,
        samplesSeen: 0,
        seed: 9,
        data: { tokenizerFile: "tokenizer.json", tokenizerSha256: sha, seed: 9, nextSample: 0 },
        config: { model: { layers: config.layers, dModel: config.dModel, heads: config.heads, seqLen: config.seqLen } },
        params: model.parameters(),
        optimizerState: [],
        optimizerStepCount: 0,
      },
      { keep: 1 },
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("writes GPT-2 names, shapes and layouts; every value is the checkpoint's", async () => {
    const r = await troupe(["export", "--hf", root, out]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /exported .*step-00000007 \(step 7\) to .*hf: config\.json, merges\.txt, model\.safetensors, special_tokens_map\.json, tokenizer\.json, tokenizer_config\.json, vocab\.json/,
    );
    const hf = readSafetensors(path.join(out, "model.safetensors"));
    expect(hf.metadata.format).toBe("pt");
    const names = [...hf.tensors.keys()].sort();
    expect(names).toContain("transformer.h.1.attn.c_attn.weight");
    expect(names).not.toContain("lm_head.weight"); // tied to transformer.wte.weight
    const { weights } = await loadModel(root);
    expect(names).toEqual([...weights.params.keys()].map((n) => hfNameOf(n).name).sort());
    for (const [name, t] of weights.params) {
      const e = hf.tensors.get(hfNameOf(name).name)!;
      if (!hfNameOf(name).transpose) {
        expect(e.shape, name).toEqual(t.shape);
        expect(
          Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength).equals(
            Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength),
          ),
          name,
        ).toBe(true);
        continue;
      }
      const [rows, cols] = t.shape as [number, number];
      expect(e.shape, name).toEqual([cols, rows]);
      for (let i = 0; i < rows; i += 3)
        for (let j = 0; j < cols; j += 5) expect(e.data[j * rows + i], `${name}[${i},${j}]`).toBe(t.data[i * cols + j]);
    }
    const cfg = JSON.parse(readFileSync(path.join(out, "config.json"), "utf8")) as Record<string, unknown>;
    expect(cfg).toMatchObject({
      model_type: "gpt2",
      architectures: ["GPT2LMHeadModel"],
      vocab_size: config.vocabSize,
      n_positions: 16,
      n_embd: 16,
      n_layer: 2,
      n_head: 2,
      activation_function: "gelu_new",
      layer_norm_epsilon: 1e-5,
      tie_word_embeddings: true,
    });
    const vocab = JSON.parse(readFileSync(path.join(out, "vocab.json"), "utf8")) as Record<string, number>;
    const tok = (await loadModel(root)).tokenizer as BpeTokenizer;
    expect(vocab["<|endoftext|>"]).toBe(tok.eotId);
    expect(Object.keys(vocab)).toHaveLength(tok.vocabSize);
  });

  it("a GPT-2 forward pass over the exported tensors gives troupe's log-probabilities", async () => {
    const hf = readSafetensors(path.join(out, "model.safetensors")).tensors;
    const { model, tokenizer } = await loadModel(root);
    const ids = Array.from(tokenizer.encode("The cat sat on the mat. one two three four")).slice(0, config.seqLen);
    while (ids.length < config.seqLen) ids.push(ids.length % 7);
    const inputs = Int32Array.from(ids);
    const targets = Int32Array.from(ids.slice(1).concat([0]));
    const ours = await model.tokenLogProbs(inputs, targets, 1);
    const ref = gpt2LogProbs(hf, config, ids);
    for (let p = 0; p < config.seqLen; p++) expect(ours[p]!, `position ${p}`).toBeCloseTo(ref[p]![targets[p]!]!, 4);
  });

  it("refuses a folder that is not empty, and a missing format flag, leaving both untouched", async () => {
    const busy = path.join(dir, "busy");
    mkdirSync(busy);
    writeFileSync(path.join(busy, "keep.txt"), "mine");
    const r = await troupe(["export", "--hf", root, busy]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^troupe: .*busy exists and is not empty: choose a new folder\n$/);
    expect(readFileSync(path.join(busy, "keep.txt"), "utf8")).toBe("mine");
    const noFormat = await troupe(["export", root, path.join(dir, "x")]);
    expect(noFormat.code).toBe(2);
    expect(noFormat.stderr).toBe("troupe: name the format: --hf (Hugging Face transformers GPT-2)\n");
  });

  const python = spawnSync("python3", ["-c", "import torch, transformers"], { encoding: "utf8" });
  it.runIf(python.status === 0)("transformers loads the folder and continues greedily as troupe generate does", async () => {
    const prompt = "The cat sat";
    const ours = await troupe(["generate", "--checkpoint", root, "--prompt", prompt, "--greedy", "--max-tokens", "8"]);
    const script = `import sys, torch\nfrom transformers import GPT2LMHeadModel, AutoTokenizer\nm = GPT2LMHeadModel.from_pretrained(sys.argv[1]).eval()\nt = AutoTokenizer.from_pretrained(sys.argv[1])\nids = t(sys.argv[2], return_tensors="pt").input_ids\nwith torch.no_grad():\n    out = m.generate(ids, max_new_tokens=8, do_sample=False, pad_token_id=t.eos_token_id)\nsys.stdout.write(t.decode(out[0]))\n`;
    const theirs = spawnSync("python3", ["-c", script, out, prompt], { encoding: "utf8" });
    expect(theirs.status, theirs.stderr).toBe(0);
    expect(ours.stdout).toContain(theirs.stdout);
  });
});
