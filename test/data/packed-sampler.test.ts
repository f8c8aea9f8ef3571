import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  openIndexedDataset,
  sampleBatch,
  validationBatches,
  WindowPermutation,
  windowsPerEpoch,
  writeIndexedDataset,
} from "../../ml/data/mod.ts";

const dir = mkdtempSync(path.join(tmpdir(), "troupe-sampler-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Token t of the stream has value t % 50000, so a window's position is readable from its tokens.
const docs = [Array.from({ length: 400 }, (_, i) => i), Array.from({ length: 601 }, (_, i) => 400 + i)];
const prefix = path.join(dir, "stream");
writeIndexedDataset(prefix, "uint16", docs);
const dataset = openIndexedDataset(prefix);
const seqLen = 10;

describe("window permutation", () => {
  it("is a bijection of 0..n-1 for awkward sizes", () => {
    for (const n of [1, 2, 3, 7, 64, 65, 1000, 4097]) {
      const perm = new WindowPermutation(n, [42, 0]);
      const seen = new Set(Array.from({ length: n }, (_, i) => perm.at(i)));
      expect(seen.size).toBe(n);
      expect(Math.max(...seen)).toBe(n - 1);
    }
  });

  it("differs between keys and is not the identity", () => {
    const a = Array.from({ length: 100 }, (_, i) => new WindowPermutation(100, [1, 0]).at(i));
    const b = Array.from({ length: 100 }, (_, i) => new WindowPermutation(100, [2, 0]).at(i));
    expect(a).not.toEqual(b);
    expect(a.filter((v, i) => v === i).length).toBeLessThan(10);
  });
});

describe("sampleBatch", () => {
  const windows = windowsPerEpoch(dataset, seqLen);

  it("packs seqLen + 1 token windows across document boundaries; targets are inputs shifted by one", () => {
    expect(windows).toBe(100);
    const b = sampleBatch(dataset, { seqLen, seed: 3, firstSample: 0, count: windows });
    const starts = new Set<number>();
    for (let r = 0; r < b.count; r++) {
      const start = b.inputs[r * seqLen]!;
      expect(start % seqLen).toBe(0);
      starts.add(start);
      for (let t = 0; t < seqLen; t++) {
        expect(b.inputs[r * seqLen + t]).toBe(start + t);
        expect(b.targets[r * seqLen + t]).toBe(start + t + 1);
      }
    }
    expect(starts.size).toBe(windows); // one epoch covers every window exactly once
    expect(starts.has(390)).toBe(true); // the window spanning documents 0 and 1
  });

  it("gives each global sample index the same tokens however the run is batched", () => {
    const whole = sampleBatch(dataset, { seqLen, seed: 9, firstSample: 0, count: 250 });
    // Ramp-up: batches of 3, then 5, then 8 …, and a resumed run starting at sample 117.
    let first = 0;
    for (const count of [3, 5, 8, 8, 16, 32, 32, 32, 13]) {
      const part = sampleBatch(dataset, { seqLen, seed: 9, firstSample: first, count });
      expect(part.inputs).toEqual(whole.inputs.subarray(first * seqLen, (first + count) * seqLen));
      first += count;
    }
    const resumed = sampleBatch(dataset, { seqLen, seed: 9, firstSample: 117, count: 40 });
    expect(resumed.targets).toEqual(whole.targets.subarray(117 * seqLen, 157 * seqLen));
  });

  it("reshuffles each epoch and depends on the seed", () => {
    const e0 = sampleBatch(dataset, { seqLen, seed: 9, firstSample: 0, count: windows });
    const e1 = sampleBatch(dataset, { seqLen, seed: 9, firstSample: windows, count: windows });
    const other = sampleBatch(dataset, { seqLen, seed: 10, firstSample: 0, count: windows });
    expect(e1.inputs).not.toEqual(e0.inputs);
    expect(other.inputs).not.toEqual(e0.inputs);
    expect([...e1.inputs].sort((a, b) => a - b)).toEqual([...e0.inputs].sort((a, b) => a - b));
  });

  it("rejects bad options and datasets too short for one sequence", () => {
    expect(() => sampleBatch(dataset, { seqLen: 0, seed: 1, firstSample: 0, count: 1 })).toThrow(/seqLen/);
    expect(() => sampleBatch(dataset, { seqLen, seed: 1, firstSample: -1, count: 1 })).toThrow(/firstSample/);
    expect(() => sampleBatch(dataset, { seqLen: 1001, seed: 1, firstSample: 0, count: 1 })).toThrow(/too few/);
  });
});

describe("validationBatches", () => {
  it("walks the windows in order, the same on every call, with a short last batch", () => {
    const batches = [...validationBatches(dataset, { seqLen, batchSize: 32 })];
    expect(batches.map((b) => b.count)).toEqual([32, 32, 32, 4]);
    expect(batches[1]!.inputs[0]).toBe(320);
    expect(batches[3]!.targets[4 * seqLen - 1]).toBe(1000);
    const again = [...validationBatches(dataset, { seqLen, batchSize: 32, maxBatches: 2 })];
    expect(again).toHaveLength(2);
    expect(again[1]!.inputs).toEqual(batches[1]!.inputs);
  });
});
