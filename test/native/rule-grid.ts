// A grid of kernel calls around the edges of every size rule, and the check that an addon's C++ rules (its
// checkCall) give the same outcome and message as the op layer's TypeScript rules on each of them.
import { expect } from "vitest";
import type { KernelArg } from "../../native/addon.ts";
import { evalSize } from "../../native/kernel-rules.ts";
import { kernelSpecs, parseSignature, parseSizeExpr, type KernelName } from "../../native/kernel-specs.ts";
import { prepareKernelCall, type KernelInputs } from "../../native/ops.ts";
import { rng } from "./helpers.ts";

export const kernels = Object.keys(kernelSpecs) as KernelName[];

type CheckCall = (name: string, ...args: KernelArg[]) => void;

function outcome(fn: () => unknown): string {
  try {
    fn();
    return "ok";
  } catch (e) {
    return `${(e as Error).name}: ${(e as Error).message}`;
  }
}

/** Calls around every rule's edges: exact sizes, each array one short, absent optionals, bad tokens, bad uint32s. */
function* ruleGridCalls(kernel: KernelName, rand: () => number): Generator<KernelInputs> {
  const spec = kernelSpecs[kernel];
  const params = parseSignature(spec.signature);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  for (let trial = 0; trial < 120; trial++) {
    const ints: Record<string, number> = {};
    for (const p of params) if (p.kind === "int") ints[p.name] = pick([0, 1, 1, 2, 3, 4, 5, 7]);
    const base: KernelInputs = { ...ints };
    for (const p of params) {
      if (p.kind === "num")
        base[p.name] = spec.uint32?.includes(p.name) ? pick([0, 7, 4294967295, 4294967296, -1, 2.5]) : pick([0, -1.5, 0.25, 3]);
      if (p.kind === "f32" || p.kind === "f32?" || p.kind === "i32") {
        const n = Math.max(0, evalSize(parseSizeExpr(spec.needs[p.name]!), ints));
        base[p.name] = p.kind === "i32" ? new Int32Array(n) : new Float32Array(n);
      }
    }
    if (spec.tokens) {
      const limit = evalSize(parseSizeExpr(spec.tokens.limit), ints);
      const t = base[spec.tokens.array] as Int32Array;
      for (let i = 0; i < t.length; i++) t[i] = limit > 0 ? (i * 7) % limit : 0;
    }
    yield base;
    for (const p of params) {
      const a = base[p.name];
      if (a instanceof Float32Array || a instanceof Int32Array) {
        if (a.length > 0) yield { ...base, [p.name]: a.subarray(0, a.length - 1) };
        yield { ...base, [p.name]: a instanceof Int32Array ? new Int32Array(a.length + 1) : new Float32Array(a.length + 1) };
      }
      if (p.kind === "f32?") yield { ...base, [p.name]: null };
    }
    if (spec.tokens) {
      const t = Int32Array.from(base[spec.tokens.array] as Int32Array);
      if (t.length > 0) {
        t[Math.floor(rand() * t.length)] = pick([-1, 1e6, evalSize(parseSizeExpr(spec.tokens.limit), ints)]);
        yield { ...base, [spec.tokens.array]: t };
      }
    }
  }
}

/** Runs the grid for `kernel` through both rule sets; fails on the first disagreement or an unreached rule. */
export function expectSameRules(kernel: KernelName, checkCall: CheckCall): void {
  const rand = rng(kernels.indexOf(kernel) + 1);
  const seen = new Set<string>();
  let count = 0;
  for (const inputs of ruleGridCalls(kernel, rand)) {
    const args = parseSignature(kernelSpecs[kernel].signature).map((p) => (inputs[p.name] ?? null) as KernelArg);
    const ts = outcome(() => prepareKernelCall(kernel, inputs));
    const cc = outcome(() => checkCall(kernel, ...args));
    expect(cc, `${kernel} ${JSON.stringify(inputs, (_k, v) => (ArrayBuffer.isView(v) ? `[${(v as Float32Array).length}]` : v))}`).toBe(ts);
    seen.add(ts === "ok" ? "ok" : ts.replace(/\d+/g, "N"));
    count++;
  }
  // The grid reaches both sides of every rule: accepted calls, and each rule broken at least once.
  expect(seen.has("ok"), `${kernel}: no accepted call in ${count}`).toBe(true);
  const spec = kernelSpecs[kernel];
  const broken = [
    ...Object.keys(spec.needs).map((a) => `'${a}' has N elements`),
    ...(spec.positive ?? []).map((n) => `'${n}' must be positive`),
    ...(spec.bounds ?? []).map((b) => `'${b.arg}' ${b.message}`),
    ...(spec.uint32 ?? []).map((n) => `'${n}' must be a N-bit unsigned integer`),
    ...(spec.tokens ? [`'${spec.tokens.array}' has value`] : []),
  ];
  for (const rule of broken)
    expect(
      [...seen].some((s) => s.includes(rule)),
      `${kernel}: never broken: ${rule}`,
    ).toBe(true);
}
