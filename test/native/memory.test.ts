import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { alloc, getBlasThreads, mapFile, setBlasThreads } from "../../native/mod.ts";

const dir = mkdtempSync(path.join(os.tmpdir(), "troupe-native-mem-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("mapFile", () => {
  it("maps the bytes of a file without changing them", () => {
    const file = path.join(dir, "tokens.bin");
    const bytes = new Uint8Array(10_001).map((_, i) => (i * 7) & 255);
    writeFileSync(file, bytes);
    const mapped = mapFile(file);
    expect(mapped.length).toBe(bytes.length);
    expect(Buffer.from(mapped).equals(Buffer.from(bytes))).toBe(true);
    // Typed views over the mapping read the same little-endian integers as the file.
    const words = new Uint16Array(mapped.buffer, 0, 5000);
    expect(words[3]).toBe(new DataView(bytes.buffer).getUint16(6, true));
  });

  it("names the path when the file is missing, empty or a directory", () => {
    const missing = path.join(dir, "nope.bin");
    expect(() => mapFile(missing)).toThrow(missing);
    const empty = path.join(dir, "empty.bin");
    writeFileSync(empty, "");
    expect(() => mapFile(empty)).toThrow(/empty\.bin' is empty/);
    const sub = path.join(dir, "sub");
    mkdirSync(sub);
    expect(() => mapFile(sub)).toThrow(/not a regular file/);
    expect(() => mapFile(42 as unknown as string)).toThrow(TypeError);
  });
});

describe("alloc", () => {
  it("returns zeroed writable native memory, small and large", () => {
    const big = alloc(3 << 20); // large buffers come from mmap
    expect(big.length).toBe(3 << 20);
    expect(big[0]).toBe(0);
    expect(big[big.length - 1]).toBe(0);
    big[big.length - 1] = 2;
    expect(big[big.length - 1]).toBe(2);
    const a = alloc(1000);
    expect(a).toBeInstanceOf(Float32Array);
    expect(a.length).toBe(1000);
    expect(a.every((x) => x === 0)).toBe(true);
    a.fill(1.5);
    expect(a[999]).toBe(1.5);
    expect(alloc(0).length).toBe(0);
  });

  it("rejects sizes that are not non-negative integers", () => {
    expect(() => alloc(-1)).toThrow(RangeError);
    expect(() => alloc(1.5)).toThrow(RangeError);
    expect(() => alloc("3" as unknown as number)).toThrow(TypeError);
  });

  it("frees memory when arrays are collected (many large allocations do not accumulate)", async () => {
    for (let i = 0; i < 120; i++) {
      alloc(4 << 20).fill(i); // 120 × 16 MB = 1.9 GB in all, every page touched
      // Node runs native finalizers from the event loop, after the GC that found the garbage.
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(process.memoryUsage().rss).toBeLessThan(1.2e9);
  });
});

describe("BLAS threads", () => {
  it("defaults to one thread and can be changed", () => {
    const before = getBlasThreads();
    setBlasThreads(2);
    expect(getBlasThreads()).toBe(2);
    setBlasThreads(before);
    expect(() => setBlasThreads(0)).toThrow(RangeError);
  });
});
