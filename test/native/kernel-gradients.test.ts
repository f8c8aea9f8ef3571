// Every kernel backend against the float64 reference kernels, whose gradients are checked by finite differences.
import { describe, expect, it } from "vitest";
import { cudaSkipReason, kernelBackends } from "./backends.ts";
import { backendExec, float64Exec, kernelCases } from "./kernel-cases.ts";
import { expectClose, numericGrad, rng } from "./helpers.ts";

describe("float64 reference kernels: backward equals finite differences of forward", () => {
  for (const [name, make] of Object.entries(kernelCases)) {
    it(name, () => {
      const c = make(rng(11));
      const analytic = c.grads(float64Exec);
      for (const [input, x] of Object.entries(c.inputs)) {
        const numeric = numericGrad(x, () => c.loss(float64Exec));
        expectClose(analytic[input]!, numeric, 1e-6, 1e-7, `${name} d/d${input}`);
      }
    });
  }
});

// Where the CUDA backend cannot run, one skipped case says why (its cases below run only where it can).
if (cudaSkipReason !== undefined) it.skip(`cuda backend: not run here: ${cudaSkipReason}`, () => {});

describe.each(kernelBackends)("$name backend (float32) matches the float64 reference", (backend) => {
  const exec = backendExec(backend);
  for (const [name, make] of Object.entries(kernelCases)) {
    it(name, () => {
      const expected = make(rng(5));
      const actual = make(rng(5));
      expect(actual.loss(exec)).toBeCloseTo(expected.loss(float64Exec), 4);
      const want = expected.grads(float64Exec);
      const got = actual.grads(exec);
      for (const input of Object.keys(want)) expectClose(got[input]!, want[input]!, 2e-4, 2e-5, `${name} d/d${input}`);
    });
  }

  it("float32 finite differences agree too (loose, eps 1e-2)", () => {
    for (const [name, make] of Object.entries(kernelCases)) {
      const c = make(rng(9));
      const analytic = c.grads(exec);
      for (const [input, x] of Object.entries(c.inputs)) {
        const numeric = numericGrad(x, () => c.loss(exec), 1e-2);
        expectClose(analytic[input]!, numeric, 2e-2, 5e-3, `${backend.name} ${name} d/d${input}`);
      }
    }
  });
});
