// Shared test helpers: the seeded random arrays of random.ts, and tolerant comparison.
import { expect } from "vitest";

export { f32, numericGrad, randn64, rng } from "./random.ts";

/** max |a-b| / (atol + rtol * |b|) must stay ≤ 1; reports the worst index. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number, what = ""): void {
  expect(actual.length, `${what} length`).toBeGreaterThanOrEqual(expected.length);
  let worst = 0,
    at = -1;
  for (let i = 0; i < expected.length; i++) {
    const r = Math.abs(actual[i]! - expected[i]!) / (atol + rtol * Math.abs(expected[i]!));
    if (!(r <= worst)) {
      worst = r;
      at = i;
    }
  }
  expect(worst, `${what}: index ${at}: got ${actual[at]}, expected ${expected[at]}`).toBeLessThanOrEqual(1);
}
