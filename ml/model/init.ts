// Deterministic initialisation: each tensor's values depend only on (seed, tensor name), so a pipeline stage
// or a restarted worker initialises its tensors to exactly the values the whole model would have.
// The sampling runs as a kernel (initNormal), off the JS thread: a 100M-parameter model takes seconds.
import type { KernelSink } from "../../native/ops.ts";
import { INIT_STD, type ParameterSpec } from "./param-layout.ts";

/** 32-bit generator key for one tensor: FNV-1a over the name, mixed with the seed. */
export function tensorKey(seed: number, name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  h = (h ^ Math.imul(seed | 0, 0x9e3779b9) ^ Math.floor(seed / 4294967296)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

/** Queues the kernel that sets `out` to the initial value of parameter `spec`. */
export function initParameter(sink: KernelSink, spec: ParameterSpec, out: Float32Array, seed: number, layers: number): void {
  switch (spec.init) {
    case "zeros":
      sink.add("fill", { x: out, n: out.length, value: 0 });
      break;
    case "ones":
      sink.add("fill", { x: out, n: out.length, value: 1 });
      break;
    case "normal":
    case "residual": {
      const std = spec.init === "normal" ? INIT_STD : INIT_STD / Math.sqrt(2 * layers);
      sink.add("initNormal", { x: out, n: out.length, std, key: tensorKey(seed, spec.name) });
      break;
    }
  }
}
