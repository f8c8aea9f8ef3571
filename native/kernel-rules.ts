// The TypeScript half of the kernel size rules: interprets native/kernel-specs.ts for one call. The C++ half is
// rendered from the same specs (native/kernel-rules-cc.ts), and both produce the same messages in the same order.
import { kernelSpecs, parseSignature, parseSizeExpr, type KernelName, type KernelSpec, type SizeTerm } from "./kernel-specs.ts";

type Arrays = Record<string, Float32Array | Int32Array | null>;

/** Value of a parsed size expression, in doubles (as the C++ checks compute it: no 32-bit overflow). */
export function evalSize(terms: readonly SizeTerm[], ints: Record<string, number>): number {
  let total = 0;
  for (const t of terms) {
    let p = 1;
    for (const f of t.factors) p *= typeof f === "number" ? f : ints[f]!;
    total += t.sign * p;
  }
  return total;
}

interface CompiledRules {
  spec: KernelSpec;
  needs: { name: string; formula: string; terms: SizeTerm[] }[];
  bounds: { arg: string; op: "<" | "<="; limit: SizeTerm[]; message: string }[];
  tokens?: { array: string; count: SizeTerm[]; limit: SizeTerm[] };
}

const compiled = new Map<KernelName, CompiledRules>(
  (Object.keys(kernelSpecs) as KernelName[]).map((k) => {
    const spec = kernelSpecs[k];
    const arrays = parseSignature(spec.signature).filter((p) => p.kind === "f32" || p.kind === "f32?" || p.kind === "i32");
    const rules: CompiledRules = {
      spec,
      needs: arrays.map((p) => ({ name: p.name, formula: spec.needs[p.name]!, terms: parseSizeExpr(spec.needs[p.name]!) })),
      bounds: (spec.bounds ?? []).map((b) => ({ ...b, limit: parseSizeExpr(b.limit) })),
    };
    if (spec.tokens)
      rules.tokens = { array: spec.tokens.array, count: parseSizeExpr(spec.tokens.count), limit: parseSizeExpr(spec.tokens.limit) };
    return [k, rules];
  }),
);

/**
 * The first broken rule of a call whose kinds are already checked, as "'arg' …" (the caller prefixes the kernel
 * name), or undefined. `ints` holds the int arguments, `nums` the num arguments, `arrays` the arrays (null: absent).
 */
export function ruleViolation(
  kernel: KernelName,
  ints: Record<string, number>,
  nums: Record<string, number>,
  arrays: Arrays,
): string | undefined {
  const r = compiled.get(kernel)!;
  for (const n of r.spec.positive ?? []) if (!(ints[n]! > 0)) return `'${n}' must be positive, got ${ints[n]}`;
  for (const need of r.needs) {
    const a = arrays[need.name];
    const count = evalSize(need.terms, ints);
    if (a && a.length < count) return `'${need.name}' has ${a.length} elements, needs ${count} (${need.formula})`;
  }
  for (const b of r.bounds) {
    const v = ints[b.arg]!,
      limit = evalSize(b.limit, ints);
    if (!(b.op === "<" ? v < limit : v <= limit)) return `'${b.arg}' ${b.message}`;
  }
  for (const n of r.spec.uint32 ?? []) {
    const v = nums[n]!;
    if (!(Number.isInteger(v) && v >= 0 && v <= 0xffffffff)) return `'${n}' must be a 32-bit unsigned integer`;
  }
  if (r.tokens) {
    const t = arrays[r.tokens.array]!;
    const count = evalSize(r.tokens.count, ints),
      limit = evalSize(r.tokens.limit, ints);
    for (let i = 0; i < count; i++) {
      const v = t[i]!;
      if (v < 0 || v >= limit) return `'${r.tokens.array}' has value ${v} at index ${i}, outside [0, ${limit})`;
    }
  }
  return undefined;
}
