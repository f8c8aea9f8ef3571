// Reassembling a sharded checkpoint written with the real safetensors writer and manifest schema.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MANIFEST_FORMAT, MANIFEST_VERSION, type CheckpointManifest, type TensorRecord } from "../../ml/checkpoint/manifest.ts";
import { writeSafetensors, type TensorEntry } from "../../ml/checkpoint/safetensors.ts";
import { copyBlock, loadCheckpointWeights, modelConfigOf } from "../../ml/eval/load-checkpoint.ts";

/** Deterministic values 0..n-1 (each element distinct, so misplaced copies show). */
const iota = (n: number) => Float32Array.from({ length: n }, (_, i) => i);

/** Slice a row-major 2-D array [rows, cols] to the block at (r0, c0) of shape (r, c). */
function block2d(data: Float32Array, cols: number, r0: number, c0: number, r: number, c: number): Float32Array {
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) out.set(data.subarray((r0 + i) * cols + c0, (r0 + i) * cols + c0 + c), i * c);
  return out;
}

interface Shard {
  file: string;
  tensors: { entry: TensorEntry; globalShape: number[]; offset: number[] }[];
}

function writeCheckpoint(dir: string, shards: Shard[], model: Record<string, number>): void {
  mkdirSync(dir, { recursive: true });
  const files = shards.map((s) => {
    const sha256 = writeSafetensors(
      path.join(dir, s.file),
      s.tensors.map((t) => t.entry),
    );
    return { file: s.file, bytes: statSync(path.join(dir, s.file)).size, sha256 };
  });
  const tensors: TensorRecord[] = shards.flatMap((s) =>
    s.tensors.map((t) => ({
      name: t.entry.name,
      kind: "param" as const,
      file: s.file,
      dtype: "F32" as const,
      globalShape: t.globalShape,
      shape: t.entry.shape,
      offset: t.offset,
    })),
  );
  const manifest: CheckpointManifest = {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    createdAt: "2026-01-01T00:00:00Z",
    step: 3,
    tokensSeen: 10,
    samplesSeen: 2,
    seed: 1,
    data: { tokenizerFile: "tokenizer.json", seed: 1, nextSample: 2 },
    optimizer: { stepCount: 3 },
    layout: { dp: 1, pp: 1, tp: 2 },
    config: { model },
    metrics: {},
    files,
    tensors,
  };
  writeFileSync(path.join(dir, "manifest.json"), JSON.stringify(manifest));
}

describe("loading a sharded checkpoint", () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(os.tmpdir(), "troupe-eval-ckpt-"));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const wte = iota(6 * 4); // [vocab 6, d 4]
  const bias = iota(5).map((x) => x * 10); // [5]
  const model = { layers: 1, dModel: 4, heads: 2, seqLen: 8 };

  function twoWaySplit(dir: string) {
    // wte split by rows (vocab-parallel), bias split unevenly, like tensor-parallel shards
    writeCheckpoint(
      dir,
      [
        {
          file: "model-p0-t0.safetensors",
          tensors: [
            { entry: { name: "wte", shape: [3, 4], data: block2d(wte, 4, 0, 0, 3, 4) }, globalShape: [6, 4], offset: [0, 0] },
            { entry: { name: "b", shape: [2], data: bias.slice(0, 2) }, globalShape: [5], offset: [0] },
          ],
        },
        {
          file: "model-p0-t1.safetensors",
          tensors: [
            { entry: { name: "wte", shape: [3, 4], data: block2d(wte, 4, 3, 0, 3, 4) }, globalShape: [6, 4], offset: [3, 0] },
            { entry: { name: "b", shape: [3], data: bias.slice(2) }, globalShape: [5], offset: [2] },
          ],
        },
      ],
      model,
    );
  }

  it("joins row-split and uneven shards into whole tensors and reads the model shape", () => {
    twoWaySplit(root);
    const w = loadCheckpointWeights(root);
    expect(Array.from(w.params.get("wte")!.data)).toEqual(Array.from(wte));
    expect(w.params.get("wte")!.shape).toEqual([6, 4]);
    expect(Array.from(w.params.get("b")!.data)).toEqual(Array.from(bias));
    expect(modelConfigOf(w)).toEqual({ vocabSize: 6, seqLen: 8, layers: 1, dModel: 4, heads: 2 });
  });

  it("joins column blocks of a 3-D tensor", () => {
    const global = iota(2 * 3 * 4);
    const shape = [2, 3, 4];
    const left = new Float32Array(2 * 3 * 1),
      right = new Float32Array(2 * 3 * 3);
    for (let i = 0; i < 6; i++) {
      left[i] = global[i * 4];
      right.set(global.subarray(i * 4 + 1, i * 4 + 4), i * 3);
    }
    const whole = new Float32Array(24);
    copyBlock(left, [2, 3, 1], whole, shape, [0, 0, 0]);
    copyBlock(right, [2, 3, 3], whole, shape, [0, 0, 1]);
    expect(Array.from(whole)).toEqual(Array.from(global));
  });

  it("follows the `latest` pointer of a checkpoint root", () => {
    twoWaySplit(path.join(root, "step-00000003"));
    writeFileSync(path.join(root, "latest"), "step-00000003\n");
    expect(loadCheckpointWeights(root).dir).toBe(path.join(root, "step-00000003"));
  });

  it("refuses a flipped byte, naming the file", () => {
    twoWaySplit(root);
    const file = path.join(root, "model-p0-t1.safetensors");
    const bytes = readFileSync(file);
    bytes[bytes.length - 1] ^= 0xff;
    writeFileSync(file, bytes);
    expect(() => loadCheckpointWeights(root)).toThrow(/model-p0-t1\.safetensors is corrupt/);
  });

  it("refuses shards that do not cover the tensor", () => {
    writeCheckpoint(
      root,
      [
        {
          file: "m.safetensors",
          tensors: [{ entry: { name: "wte", shape: [3, 4], data: block2d(wte, 4, 0, 0, 3, 4) }, globalShape: [6, 4], offset: [0, 0] }],
        },
      ],
      model,
    );
    expect(() => loadCheckpointWeights(root)).toThrow(/wte: its shards cover 12 of 24 elements/);
  });

  it("says when a folder is not a checkpoint", () => {
    expect(() => loadCheckpointWeights(root)).toThrow(/is not a checkpoint: no manifest\.json and no `latest` pointer/);
    expect(() => loadCheckpointWeights(path.join(root, "nope"))).toThrow(/does not exist/);
  });
});
