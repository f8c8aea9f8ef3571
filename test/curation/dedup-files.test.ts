import { describe, expect, test } from "vitest";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  readBandEntries,
  readPairs,
  readShard,
  readSims,
  writeBandEntries,
  writePairs,
  writeShard,
  writeSims,
} from "../../actors/dedup/dedup-files.ts";

describe("dedup files", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "troupe-dedup-files-"));

  test("shards, band entries, pairs and sims come back as written, with no temporary file left", () => {
    const texts = ["héllo wörld", "", "a\u0000b", "x".repeat(10_000)];
    writeShard(path.join(dir, "s"), texts);
    expect(readShard(path.join(dir, "s"))).toEqual(texts);
    // odd counts so the arrays after the f64 keys start at offsets that are not multiples of 8
    const entries = {
      key: Float64Array.from([2 ** 53 - 1, 0, 12345.0]),
      doc: Uint32Array.from([7, 0xffffffff, 3]),
      band: Uint16Array.from([19, 0, 65535]),
    };
    writeBandEntries(path.join(dir, "b"), entries);
    expect(readBandEntries(path.join(dir, "b"))).toEqual(entries);
    writePairs(path.join(dir, "p"), Uint32Array.from([1, 2, 1, 5]));
    expect([...readPairs(path.join(dir, "p"))]).toEqual([1, 2, 1, 5]);
    writeSims(path.join(dir, "m"), Float64Array.from([0.8125, 1 / 3]));
    expect([...readSims(path.join(dir, "m"))]).toEqual([0.8125, 1 / 3]);
    expect(readdirSync(dir).sort()).toEqual(["b", "m", "p", "s"]);
  });

  test("a truncated, foreign or missing file is a clear error", () => {
    writePairs(path.join(dir, "t"), Uint32Array.from([1, 2, 3, 4]));
    writeFileSync(path.join(dir, "t"), readFileSync(path.join(dir, "t")).subarray(0, 12));
    expect(() => readPairs(path.join(dir, "t"))).toThrow(/t is truncated/);
    expect(() => readSims(path.join(dir, "p"))).toThrow(/p is not a SIMS file/);
    expect(() => readShard(path.join(dir, "p"))).toThrow();
    expect(() => readBandEntries(path.join(dir, "nope"))).toThrow(/cannot read .*nope: ENOENT/);
  });
});
