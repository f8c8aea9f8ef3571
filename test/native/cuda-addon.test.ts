// The CUDA addon is compiled wherever nvcc is installed (CI included), so a syntax or type error in the CUDA
// sources fails here without a GPU; it loads without a GPU too, and then checks calls like the CPU addon and says
// why it cannot run. Its kernels are compared with the CPU reference where a GPU exists (kernels.test.ts,
// kernel-gradients.test.ts, scripts/gpu-check.sh).
import { spawnSync } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
import { loadCudaAddon } from "../../native/cuda-addon.ts";
import { createCudaBackend, cudaStatus } from "../../native/cuda-backend.ts";
import { CudaUnavailableError } from "../../native/errors.ts";
import { kernelSpecs } from "../../native/kernel-specs.ts";
import { expectSameRules, kernels } from "./rule-grid.ts";

const hasNvcc = spawnSync("sh", ["-c", "command -v nvcc"]).status === 0;

if (!hasNvcc) it.skip("CUDA addon: not compiled here: nvcc not found", () => {});

describe.runIf(hasNvcc)("CUDA addon (compiled by scripts/gpu-build.sh)", () => {
  beforeAll(() => {
    const r = spawnSync("bash", ["scripts/gpu-build.sh"], { encoding: "utf8", timeout: 20 * 60_000 });
    if (r.status !== 0) throw new Error(`scripts/gpu-build.sh failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  }, 20 * 60_000);

  it("declares the same kernels and signatures as the specs", () => {
    const signatures = loadCudaAddon().kernelSignatures();
    expect(Object.keys(signatures).sort()).toEqual(Object.keys(kernelSpecs).sort());
    for (const k of kernels) expect(signatures[k], k).toBe(kernelSpecs[k].signature);
  });

  it.each(kernels)("%s: its C++ checks agree with the op layer on the rule grid", (kernel) => {
    const addon = loadCudaAddon();
    expectSameRules(kernel, (name, ...args) => addon.checkCall(name, ...args));
  });

  it("reports whether it can run here, and refuses device work until configured", () => {
    const status = cudaStatus();
    const probe = loadCudaAddon().probe();
    if (status.available) {
      expect(probe.devices).toBeGreaterThan(0);
      expect(probe.name).toBeTruthy();
      return;
    }
    expect(status.reason).toMatch(/CUDA|cuBLAS|device/);
    expect(() => createCudaBackend()).toThrow(CudaUnavailableError);
    expect(() => loadCudaAddon().alloc(4)).toThrow(/not configured/);
    expect(() => loadCudaAddon().runSync("fill", new Float32Array(2), 2, 1)).toThrow(/not configured/);
  });
});
