// The addon backend: OpenBLAS GEMM and fused C++ kernels, each call on a libuv worker thread.
import { addon } from "./addon.ts";
import { hostTransfer, type Backend, type KernelArg, type KernelCall } from "./backend.ts";
import type { KernelName } from "./kernel-specs.ts";

export const nativeBackend: Backend = {
  name: "native",
  memory: "host",
  run: (kernel: KernelName, args: KernelArg[]) => addon.run(kernel, ...args),
  runSync: (kernel: KernelName, args: KernelArg[]) => addon.runSync(kernel, ...args),
  runProgram: (calls: readonly KernelCall[]) => addon.runProgram(calls.map((c) => [c.kernel, ...c.args])),
  alloc: (n: number) => addon.alloc(n),
  download: hostTransfer,
  upload: hostTransfer,
};
