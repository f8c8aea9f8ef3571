import { describe, expect, it } from "vitest";
import { checkOp, chunkBounds, combineInto } from "../../runtime/collectives/reduce.ts";

describe("reduction helpers", () => {
  it("split any length into contiguous chunks that differ by at most one element", () => {
    for (let parts = 1; parts <= 9; parts++)
      for (let length = 0; length <= 40; length++) {
        let next = 0;
        const sizes: number[] = [];
        for (let i = 0; i < parts; i++) {
          const [a, b] = chunkBounds(length, parts, i);
          expect(a).toBe(next);
          sizes.push(b - a);
          next = b;
        }
        expect(next).toBe(length);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      }
    expect(chunkBounds(10, 4, 0)).toEqual([0, 3]);
    expect(chunkBounds(10, 4, 3)).toEqual([8, 10]);
  });

  it("combine elementwise in fp32", () => {
    const acc = Float32Array.of(1, -2, 3);
    combineInto(acc, Float32Array.of(2, -5, 1), "max");
    expect([...acc]).toEqual([2, -2, 3]);
    combineInto(acc, Float32Array.of(0, -5, 4), "min");
    expect([...acc]).toEqual([0, -5, 3]);
    const s = Float32Array.of(1);
    combineInto(s, Float32Array.of(1e-8), "sum"); // below half an fp32 ulp of 1: rounds away
    expect(s[0]).toBe(1);
    expect(() => checkOp("avg")).toThrow(/unknown reduce op 'avg' \(sum, max or min\)/);
  });
});
