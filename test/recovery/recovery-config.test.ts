// The train config's `recovery` section: the restart intensity of a distributed job's workers (defaults 3 restarts
// in 60 s), checked with a clear message per bad field, and converted to the supervisor's units.
import { describe, expect, it } from "vitest";
import { parseTrainConfig, restartIntensityOf } from "../../ml/train/config.ts";
import { TrainConfigError } from "../../ml/train/errors.ts";

const base = {
  model: { layers: 2, dModel: 16, heads: 2, seqLen: 8 },
  data: { corpus: "brown", vocabSize: 260 },
  optimizer: { lr: 0.01 },
  batch: { size: 8, microBatch: 2 },
  schedule: { warmupTokens: 32, decayTokens: 5000 },
  train: { steps: 10 },
  eval: { interval: 5 },
  checkpoint: { interval: 5 },
  parallel: { dp: 2 },
};

function errorOf(recovery: unknown): string {
  try {
    parseTrainConfig({ ...base, recovery }, "config job.yaml");
  } catch (e) {
    expect(e).toBeInstanceOf(TrainConfigError);
    return (e as Error).message;
  }
  throw new Error("config was accepted");
}

describe("train config: recovery section", () => {
  it("defaults to 3 restarts in 60 s and takes both limits or either one", () => {
    expect(parseTrainConfig(base).recovery).toEqual({ maxRestarts: 3, periodSeconds: 60 });
    expect(restartIntensityOf(parseTrainConfig(base))).toEqual({ maxRestarts: 3, periodMs: 60_000 });
    const c = parseTrainConfig({ ...base, recovery: { maxRestarts: 0, periodSeconds: 2.5 } });
    expect(restartIntensityOf(c)).toEqual({ maxRestarts: 0, periodMs: 2500 });
    expect(parseTrainConfig({ ...base, recovery: { periodSeconds: 600 } }).recovery).toEqual({ maxRestarts: 3, periodSeconds: 600 });
  });

  it("refuses bad limits and unknown fields, naming each", () => {
    expect(errorOf({ maxRestarts: -1 })).toBe(
      "invalid config job.yaml: `recovery.maxRestarts`: got -1; Too small: expected number to be >=0",
    );
    expect(errorOf({ maxRestarts: 1.5 })).toBe("invalid config job.yaml: `recovery.maxRestarts`: got 1.5; expected int, received number");
    expect(errorOf({ periodSeconds: 0 })).toBe(
      "invalid config job.yaml: `recovery.periodSeconds`: got 0; Too small: expected number to be >0",
    );
    expect(errorOf({ periodSeconds: "60s" })).toMatch(/`recovery.periodSeconds`: got "60s"; expected number/);
    expect(errorOf({ maxRestarts: 3, period: 60 })).toBe(
      "invalid config job.yaml: unknown field `recovery.period` (not part of the training config)",
    );
    expect(errorOf(3)).toMatch(/`recovery`: got 3; expected object/);
  });
});
