// The kernel size rules live once, in native/kernel-specs.ts: the op layer interprets them and the addon's C++
// checks are rendered from them. These tests fail when the rendered file is stale, and when the two
// interpreters disagree on any call over a grid of sizes for every rule (same error, same message, or both pass).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { addon, type KernelArg } from "../../native/addon.ts";
import { GENERATED_RULES_PATH, renderKernelRules } from "../../native/kernel-rules-cc.ts";
import { evalSize } from "../../native/kernel-rules.ts";
import { kernelSpecs, parseSignature, parseSizeExpr, type KernelName } from "../../native/kernel-specs.ts";
import { prepareKernelCall, type KernelInputs } from "../../native/ops.ts";
import { rng } from "./helpers.ts";

const kernels = Object.keys(kernelSpecs) as KernelName[];

function outcome(fn: () => unknown): string {
  try {
    fn();
    return "ok";
  } catch (e) {
    return `${(e as Error).name}: ${(e as Error).message}`;
  }
}

/** The same call checked by the op layer (TypeScript rules) and by the addon (rendered C++ rules). */
function bothSides(kernel: KernelName, inputs: KernelInputs): { ts: string; cc: string } {
  const args = parseSignature(kernelSpecs[kernel].signature).map((p) => (inputs[p.name] ?? null) as KernelArg);
  return { ts: outcome(() => prepareKernelCall(kernel, inputs)), cc: outcome(() => addon.checkCall(kernel, ...args)) };
}

/** Calls around every rule's edges: exact sizes, each array one short, absent optionals, bad tokens, bad uint32s. */
function* calls(kernel: KernelName, rand: () => number): Generator<KernelInputs> {
  const spec = kernelSpecs[kernel];
  const params = parseSignature(spec.signature);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  for (let trial = 0; trial < 120; trial++) {
    const ints: Record<string, number> = {};
    for (const p of params) if (p.kind === "int") ints[p.name] = pick([0, 1, 1, 2, 3, 4, 5, 7]);
    const base: KernelInputs = { ...ints };
    for (const p of params) {
      if (p.kind === "num") base[p.name] = spec.uint32?.includes(p.name) ? pick([0, 7, 4294967295, 4294967296, -1, 2.5]) : pick([0, -1.5, 0.25, 3]);
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

describe("kernel size rules", () => {
  it("the addon's C++ rule table is the one rendered from native/kernel-specs.ts (else: node --import tsx native/kernel-rules-cc.ts)", () => {
    expect(readFileSync(GENERATED_RULES_PATH, "utf8")).toBe(renderKernelRules());
  });

  it.each(kernels)("%s: the op layer and the addon accept and reject the same calls with the same message", (kernel) => {
    const rand = rng(kernels.indexOf(kernel) + 1);
    const seen = new Set<string>();
    let count = 0;
    for (const inputs of calls(kernel, rand)) {
      const { ts, cc } = bothSides(kernel, inputs);
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
    for (const rule of broken) expect([...seen].some((s) => s.includes(rule)), `${kernel}: never broken: ${rule}`).toBe(true);
  });

  it("every array of every kernel has a size rule, and the rules name only integer arguments", () => {
    expect(() => renderKernelRules()).not.toThrow();
    for (const k of kernels) {
      const params = parseSignature(kernelSpecs[k].signature);
      for (const p of params.filter((q) => q.kind !== "int" && q.kind !== "num")) expect(kernelSpecs[k].needs[p.name], `${k}.${p.name}`).toBeDefined();
    }
  });
});
