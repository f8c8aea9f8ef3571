// Whether tensors hold only finite values (a worker checks its local gradients before any reduction).
import type { NamedTensor } from "./types.ts";

/** True when every element of every tensor is finite (checks a worker's local gradients). */
export function allFinite(tensors: readonly Pick<NamedTensor, "data">[]): boolean {
  for (const t of tensors) {
    const d = t.data;
    for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i]!)) return false;
  }
  return true;
}
