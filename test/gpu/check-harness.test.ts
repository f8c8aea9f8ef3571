// The device check's kernel comparison (kernel-check.ts), run here on the CPU addon: it must cover every registry
// kernel, pass on a correct backend, and catch a wrong one, so that its verdict on a GPU means something.
import { describe, expect, it } from "vitest";
import type { Backend, KernelArg } from "../../native/backend.ts";
import { kernelSpecs, type KernelName } from "../../native/kernel-specs.ts";
import { nativeBackend } from "../../native/native-backend.ts";
import { checkKernel, KERNEL_CASES } from "./kernel-check.ts";

describe("device check: kernels against the float64 reference", () => {
  it("covers every kernel of the registry", () => {
    expect(new Set(KERNEL_CASES.map((c) => c.kernel))).toEqual(new Set(Object.keys(kernelSpecs)));
  });

  it("finds the CPU addon within the fp32 tolerance on every case", { timeout: 240_000 }, () => {
    KERNEL_CASES.forEach((c, i) => {
      const r = checkKernel(nativeBackend, c, 1000 + i);
      expect(r.error, `${r.kernel} ${r.variant} (worst: ${r.worst})`).toBeLessThanOrEqual(1e-4);
    });
  });

  it("catches a kernel whose output is off by 2e-3 in a single element (outputs of scale ~4)", () => {
    const off: Backend = {
      ...nativeBackend,
      runSync(kernel: KernelName, args: KernelArg[]) {
        const result = nativeBackend.runSync(kernel, args);
        if (kernel === "geluForward") (args[1] as Float32Array)[7] += 2e-3;
        return result;
      },
    };
    const gelu = KERNEL_CASES.find((c) => c.kernel === "geluForward")!;
    expect(checkKernel(off, gelu, 1).error).toBeGreaterThan(1e-4);
    expect(checkKernel(nativeBackend, gelu, 1).error).toBeLessThanOrEqual(1e-4);
  });
});
