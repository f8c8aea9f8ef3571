// Seeded random arrays, finite differences and dot products for kernel tests: no test framework here, so the
// device check (test/gpu/gpu-check.ts, bundled without node_modules) can use them too.
import { mulberry32 } from "../../ml/data/seeded-random.ts";

/** Deterministic noise (mulberry32) so a failing series can be replayed. */
export const rng = mulberry32;

export function randn64(n: number, rand: () => number, scale = 1): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(rand(), 1e-12),
      v = rand();
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return out;
}

export const f32 = (a: Float64Array): Float32Array => Float32Array.from(a);

/** Central differences of scalar `loss()` with respect to every element of `x` (float64, modified in place). */
export function numericGrad(x: Float64Array, loss: () => number, eps = 1e-6): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const keep = x[i]!;
    x[i] = keep + eps;
    const up = loss();
    x[i] = keep - eps;
    const down = loss();
    x[i] = keep;
    g[i] = (up - down) / (2 * eps);
  }
  return g;
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>, n = a.length): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[i]! * b[i]!;
  return s;
}
