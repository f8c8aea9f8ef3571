// Parameters and gradients live in two flat native buffers; each tensor is a 64-byte-aligned view into them,
// so zeroing gradients is one pass and checkpoints still see named tensors. A store for inference only has no
// gradients: every gradient view is empty, so a kernel that would write one is refused when recorded.
import type { NamedTensor } from "./types.ts";
import { elementCount, type ParameterSpec } from "./param-layout.ts";

const ALIGN = 16; // floats = 64 bytes

export class ParameterStore {
  readonly params: NamedTensor[] = [];
  readonly grads: NamedTensor[] = [];
  readonly flatParams: Float32Array;
  readonly flatGrads: Float32Array;
  private readonly byName = new Map<string, { param: Float32Array; grad: Float32Array }>();

  constructor(layout: readonly ParameterSpec[], alloc: (n: number) => Float32Array, options: { gradients?: boolean } = {}) {
    const gradients = options.gradients ?? true;
    const offsets: number[] = [];
    let total = 0;
    for (const spec of layout) {
      offsets.push(total);
      total += Math.ceil(elementCount(spec.shape) / ALIGN) * ALIGN;
    }
    this.flatParams = alloc(total);
    this.flatGrads = gradients ? alloc(total) : new Float32Array(0);
    layout.forEach((spec, i) => {
      const n = elementCount(spec.shape);
      const param = this.flatParams.subarray(offsets[i]!, offsets[i]! + n);
      const grad = gradients ? this.flatGrads.subarray(offsets[i]!, offsets[i]! + n) : this.flatGrads;
      this.params.push({ name: spec.name, shape: [...spec.shape], data: param });
      if (gradients) this.grads.push({ name: spec.name, shape: [...spec.shape], data: grad });
      this.byName.set(spec.name, { param, grad });
    });
  }

  param(name: string): Float32Array {
    return this.get(name).param;
  }

  grad(name: string): Float32Array {
    return this.get(name).grad;
  }

  private get(name: string) {
    const e = this.byName.get(name);
    if (!e) throw new Error(`no parameter named '${name}'`);
    return e;
  }
}
