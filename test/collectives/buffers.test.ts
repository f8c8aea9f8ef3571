// The buffer reuse of the CPU collectives: the frame pool hands back only whole received buffers, within its
// bound; a gradient bucket reduces in place only over gradients that tile one range of one buffer.
import { describe, expect, it } from "vitest";
import { FramePool } from "../../runtime/collectives/frame-pool.ts";
import { contiguousSpan } from "../../runtime/collectives/grad-buckets.ts";

describe("FramePool", () => {
  it("reuses a whole buffer of the same size, and nothing else", () => {
    const pool = new FramePool(1024);
    const a = pool.take(256);
    const frame = new Float32Array(a.buffer, 0, 64);
    pool.give(frame);
    expect(pool.take(256).buffer).toBe(a.buffer);
    expect(pool.take(256).buffer).not.toBe(a.buffer); // it was taken again
    const big = new Float32Array(512);
    pool.give(big.subarray(1)); // part of a buffer: never
    expect(pool.take(2044).buffer).not.toBe(big.buffer);
    const tooBig = new Float32Array(512); // 2048 B: over the bound
    pool.give(tooBig);
    expect(pool.take(2048).buffer).not.toBe(tooBig.buffer);
  });
});

describe("contiguousSpan", () => {
  const flat = new Float32Array(64);
  // three tensors with alignment padding between them, registered in reverse order (as backward finishes them)
  const t0 = flat.subarray(0, 10),
    t1 = flat.subarray(16, 30),
    t2 = flat.subarray(32, 40);
  it("covers gradients that tile one range (in any order, with padding), as one view", () => {
    const span = contiguousSpan([t2, t1, t0], 0, 3)!;
    expect(span.buffer).toBe(flat.buffer);
    expect([span.byteOffset, span.length]).toEqual([0, 40]);
    expect(contiguousSpan([t2, t1, t0], 0, 2)!.byteOffset).toBe(16 * 4);
  });
  it("refuses a span with another registered gradient inside, a wide gap, or two buffers", () => {
    expect(contiguousSpan([t2, t0, t1], 0, 2)).toBeNull(); // t1 lies between t2 and t0
    expect(contiguousSpan([flat.subarray(0, 4), flat.subarray(40, 44)], 0, 2)).toBeNull();
    expect(contiguousSpan([t0, new Float32Array(4)], 0, 2)).toBeNull();
  });
});
