import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadTrainConfig, parseTrainConfig } from "../../ml/train/config.ts";
import { TrainConfigError } from "../../ml/train/errors.ts";

const valid = {
  model: { layers: 2, dModel: 64, heads: 4, seqLen: 32 },
  data: { corpus: "brown", vocabSize: 512, heldOutPerGenre: 1 },
  optimizer: { lr: 1e-3 },
  batch: { size: 16, microBatch: 4, rampStart: 4, rampIncrement: 4, rampTokens: 2048 },
  schedule: { warmupTokens: 1000, decayTokens: 100_000 },
  train: { steps: 100 },
  eval: { interval: 20 },
  checkpoint: { interval: 50 },
};

function withChange(pathParts: string[], value: unknown): unknown {
  const copy = structuredClone(valid) as Record<string, unknown>;
  let obj = copy;
  for (const p of pathParts.slice(0, -1)) obj = obj[p] as Record<string, unknown>;
  obj[pathParts.at(-1)!] = value;
  return copy;
}

function errorOf(raw: unknown): string {
  try {
    parseTrainConfig(raw);
  } catch (e) {
    expect(e).toBeInstanceOf(TrainConfigError);
    return (e as Error).message;
  }
  throw new Error("config was accepted");
}

const dir = mkdtempSync(path.join(os.tmpdir(), "troupe-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("training config", () => {
  it("accepts a valid config and fills the MT-NLG defaults", () => {
    const c = parseTrainConfig(valid);
    expect(c.optimizer).toEqual({ lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, clip: 1.0 });
    expect(c.schedule.minLrRatio).toBe(0.1);
    expect(c.checkpoint.keep).toBe(3);
  });

  it("names the field path, the value and what is allowed", () => {
    const msg = errorOf(withChange(["optimizer", "beta2"], 1.5));
    expect(msg).toContain("`optimizer.beta2`");
    expect(msg).toContain("got 1.5");
    expect(msg).toMatch(/less than 1|<\s*1/);
  });

  it("refuses wrong types, unknown fields and missing sections", () => {
    expect(errorOf(withChange(["model", "layers"], "two"))).toMatch(/`model\.layers`: got "two"; .*number/);
    expect(errorOf(withChange(["model", "layerz"], 3))).toContain("`model.layerz`");
    const { eval: _e, ...noEval } = valid;
    expect(errorOf(noEval)).toMatch(/`eval`: missing; required \(object\)/);
  });

  it("checks relations between fields", () => {
    expect(errorOf(withChange(["model", "heads"], 3))).toContain("`model.dModel`: got 64; dModel must be divisible by heads");
    expect(errorOf(withChange(["batch", "size"], 18))).toContain("`batch.size`: got 18; must be a multiple of batch.microBatch (4)");
    expect(errorOf(withChange(["batch", "rampIncrement"], 8))).toContain("`batch.rampIncrement`: got 8; must divide");
    expect(errorOf(withChange(["schedule", "decayTokens"], 500))).toContain("`schedule.decayTokens`");
    expect(errorOf(withChange(["train"], { steps: 10, tokens: 100 }))).toContain("exactly one of train.tokens or train.steps");
  });

  it("reads YAML files and reports unreadable or malformed ones with the file name", () => {
    const good = path.join(dir, "good.yaml");
    writeFileSync(
      good,
      "model: {layers: 2, dModel: 64, heads: 4, seqLen: 32}\n" +
        "data: {corpus: brown, vocabSize: 512, heldOutPerGenre: 1}\noptimizer: {lr: 0.001}\n" +
        "batch: {size: 8, microBatch: 4}\nschedule: {warmupTokens: 0, decayTokens: 1000}\n" +
        "train: {tokens: 5000}\neval: {interval: 5}\ncheckpoint: {interval: 5}\n",
    );
    expect(loadTrainConfig(good).train.tokens).toBe(5000);
    const bad = path.join(dir, "bad.yaml");
    writeFileSync(bad, "model: [unclosed\n");
    expect(() => loadTrainConfig(bad)).toThrow(/bad\.yaml is not valid YAML/);
    expect(() => loadTrainConfig(path.join(dir, "missing.yaml"))).toThrow(/cannot read config file .*missing\.yaml/);
  });
});
