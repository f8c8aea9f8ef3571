import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DataFileError, dtypeForVocab, openIndexedDataset, writeIndexedDataset } from "../../ml/data/mod.ts";

const dir = mkdtempSync(path.join(tmpdir(), "troupe-ds-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const docs = [[1, 2, 3], [], [65535, 0], [7, 7, 7, 7, 7]];

describe("indexed dataset", () => {
  it("chooses uint16 up to 65536 tokens of vocabulary, uint32 beyond", () => {
    expect(dtypeForVocab(65536)).toBe("uint16");
    expect(dtypeForVocab(65537)).toBe("uint32");
  });

  it("round-trips documents with uint16 and uint32 tokens", () => {
    for (const dtype of ["uint16", "uint32"] as const) {
      const prefix = path.join(dir, `rt-${dtype}`);
      const wide = dtype === "uint32" ? [...docs, [70000, 1 << 20]] : docs;
      writeIndexedDataset(prefix, dtype, wide);
      const ds = openIndexedDataset(prefix);
      expect(ds.dtype).toBe(dtype);
      expect(ds.documentCount).toBe(wide.length);
      expect(ds.tokenCount).toBe(wide.flat().length);
      expect(ds.tokens).toBeInstanceOf(dtype === "uint16" ? Uint16Array : Uint32Array);
      wide.forEach((d, i) => expect(Array.from(ds.document(i))).toEqual(d));
      expect(Array.from(ds.tokens)).toEqual(wide.flat());
      expect(readFileSync(`${prefix}.bin`).byteLength).toBe(wide.flat().length * (dtype === "uint16" ? 2 : 4));
      expect(() => ds.document(wide.length)).toThrow(/out of range/);
    }
  });

  it("rejects tokens that do not fit the dtype", () => {
    expect(() => writeIndexedDataset(path.join(dir, "big"), "uint16", [[65536]])).toThrow(/does not fit/);
  });

  it("refuses truncated, corrupt and missing files with an error naming the file", () => {
    const prefix = path.join(dir, "bad");
    writeIndexedDataset(prefix, "uint16", docs);
    const idx = readFileSync(`${prefix}.idx`);

    truncateSync(`${prefix}.bin`, 4);
    expect(() => openIndexedDataset(prefix)).toThrow(DataFileError);
    expect(() => openIndexedDataset(prefix)).toThrow(`${prefix}.bin`);

    writeIndexedDataset(prefix, "uint16", docs);
    writeFileSync(`${prefix}.idx`, idx.subarray(0, idx.byteLength - 3));
    expect(() => openIndexedDataset(prefix)).toThrow(new RegExp(`${prefix}.idx.*truncated`));

    const badMagic = Buffer.from(idx);
    badMagic[0] = 0x58;
    writeFileSync(`${prefix}.idx`, badMagic);
    expect(() => openIndexedDataset(prefix)).toThrow(/magic/);

    const badOffsets = Buffer.from(idx);
    badOffsets.writeBigUInt64LE(100n, 32 + 8 * 2);
    writeFileSync(`${prefix}.idx`, badOffsets);
    expect(() => openIndexedDataset(prefix)).toThrow(/out of order|corrupt/);

    writeFileSync(`${prefix}.idx`, idx.subarray(0, 10));
    expect(() => openIndexedDataset(prefix)).toThrow(/truncated index/);

    expect(() => openIndexedDataset(path.join(dir, "missing"))).toThrow(/missing\.idx: index file does not exist/);
  });
});
