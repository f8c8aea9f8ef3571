import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  copyTensorsInto,
  latestCheckpointDir,
  listCheckpoints,
  loadCheckpoint,
  saveCheckpoint,
  sha256File,
  type CheckpointContent,
} from "../../ml/checkpoint/store.ts";
import { CheckpointError } from "../../ml/checkpoint/errors.ts";
import type { NamedTensor } from "../../ml/model/types.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-ckpt-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function tensor(name: string, shape: number[], seed: number): NamedTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return { name, shape, data: Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 1000 + i)) };
}

function content(step: number): CheckpointContent {
  const params = [tensor("wte", [10, 4], step), tensor("h.0.ln_1.weight", [4], step + 1)];
  return {
    step,
    tokensSeen: step * 64,
    samplesSeen: step * 2,
    seed: 5,
    data: { tokenizerFile: "/tmp/tokenizer.json", seed: 1, nextSample: step * 2 },
    config: { model: { layers: 1 } },
    metrics: { loss: 3.25 },
    params,
    optimizerState: params.flatMap((p) => [
      tensor(`${p.name}.exp_avg`, p.shape, step + 2),
      tensor(`${p.name}.exp_avg_sq`, p.shape, step + 3),
    ]),
    optimizerStepCount: step,
  };
}

describe("checkpoint store", () => {
  it("round-trips params, optimizer moments, step count and data position", () => {
    const dir = saveCheckpoint(path.join(root, "a"), content(3), { keep: 3 });
    expect(latestCheckpointDir(path.join(root, "a"))).toBe(dir);
    const loaded = loadCheckpoint(dir);
    expect(loaded.manifest.step).toBe(3);
    expect(loaded.manifest.optimizer.stepCount).toBe(3);
    expect(loaded.manifest.data.nextSample).toBe(6);
    expect(loaded.manifest.tensors[0]).toMatchObject({ name: "wte", globalShape: [10, 4], shape: [10, 4], offset: [0, 0], kind: "param" });
    const targets = content(99).params;
    copyTensorsInto(targets, loaded.params, "model");
    for (const [i, p] of content(3).params.entries())
      expect(Buffer.from(targets[i].data.buffer).equals(Buffer.from(p.data.buffer))).toBe(true);
    expect(loaded.optimizerState.get("wte.exp_avg_sq")!.data).toEqual(content(3).optimizerState[1].data);
    // the manifest's sha256 is that of the file
    const m = JSON.parse(readFileSync(path.join(dir, "manifest.json"), "utf8"));
    expect(m.files).toHaveLength(2);
    for (const f of m.files) expect(f.sha256).toBe(sha256File(path.join(dir, f.file)));
  });

  it("keeps only the newest N and moves `latest` forward", () => {
    const r = path.join(root, "keep");
    for (const step of [1, 2, 3, 4, 5]) saveCheckpoint(r, content(step), { keep: 2 });
    expect(listCheckpoints(r).map((c) => c.step)).toEqual([4, 5]);
    expect(path.basename(latestCheckpointDir(r)!)).toBe("step-00000005");
    expect(readdirSync(r).filter((n) => n.startsWith(".tmp"))).toEqual([]);
  });

  it("refuses a flipped byte, naming the file", () => {
    const dir = saveCheckpoint(path.join(root, "flip"), content(2), { keep: 1 });
    const file = path.join(dir, "model-p0-t0.safetensors");
    const bytes = readFileSync(file);
    bytes[bytes.length - 3] ^= 0x10;
    writeFileSync(file, bytes);
    expect(() => loadCheckpoint(dir)).toThrow(CheckpointError);
    expect(() => loadCheckpoint(dir)).toThrow(`checkpoint file ${file} is corrupt: sha256`);
  });

  it("refuses a truncated file, naming the file", () => {
    const dir = saveCheckpoint(path.join(root, "trunc"), content(2), { keep: 1 });
    const file = path.join(dir, "optimizer-p0-t0.safetensors");
    truncateSync(file, 100);
    expect(() => loadCheckpoint(dir)).toThrow(`checkpoint file ${file} is truncated or damaged: 100 bytes`);
  });

  it("refuses a damaged or missing manifest, naming it", () => {
    const dir = saveCheckpoint(path.join(root, "man"), content(2), { keep: 1 });
    const manifest = path.join(dir, "manifest.json");
    writeFileSync(manifest, readFileSync(manifest, "utf8").slice(0, 50));
    expect(() => loadCheckpoint(dir)).toThrow(`checkpoint manifest ${manifest} is not valid JSON`);
    rmSync(manifest);
    expect(() => loadCheckpoint(dir)).toThrow(`checkpoint manifest ${manifest} is missing`);
  });

  it("refuses tensors that do not fit the model", () => {
    const loaded = loadCheckpoint(saveCheckpoint(path.join(root, "shape"), content(2), { keep: 1 }));
    const wrong = [tensor("wte", [10, 5], 0), tensor("h.0.ln_1.weight", [4], 0)];
    expect(() => copyTensorsInto(wrong, loaded.params, "model")).toThrow(
      "tensor wte has shape [10,4] in the checkpoint, [10,5] in the model",
    );
  });

  it("has no checkpoint before the first save", () => {
    expect(latestCheckpointDir(path.join(root, "none"))).toBeUndefined();
    expect(existsSync(path.join(root, "none"))).toBe(false);
  });
});
