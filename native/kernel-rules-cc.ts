// Renders the kernel size rules of native/kernel-specs.ts as C++ (native/src/kernel_rules.gen.cc), so that the
// addons check every call by the same rules as the op layer. The output is checked in (building the addon needs
// no TypeScript); test/native/kernel-rules.test.ts fails while it differs from what the specs render.
// Regenerate: node --import tsx native/kernel-rules-cc.ts
import { writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { kernelSpecs, parseSignature, parseSizeExpr, type KernelName, type ParsedParam } from "./kernel-specs.ts";

export const GENERATED_RULES_PATH = path.join(path.dirname(fileURLToPath(import.meta.url)), "src", "kernel_rules.gen.cc");

function cString(s: string): string {
  return JSON.stringify(s); // the specs hold ASCII only, where JSON and C escapes agree
}

/** A size expression over the call's integer arguments, as a C++ double expression (same order of operations). */
function renderExpr(kernel: string, expr: string, params: ParsedParam[]): string {
  return parseSizeExpr(expr)
    .map((t, i) => {
      const product = t.factors
        .map((f) => {
          if (typeof f === "number") return `${f}.0`;
          const idx = params.findIndex((p) => p.name === f);
          if (idx < 0 || params[idx]!.kind !== "int") throw new Error(`${kernel}: '${f}' in '${expr}' is not an int argument`);
          return `c.I(${idx})`;
        })
        .join(" * ");
      return i === 0 ? (t.sign < 0 ? `-${product}` : product) : `${t.sign < 0 ? " - " : " + "}${product}`;
    })
    .join("");
}

function renderChecks(kernel: KernelName): string[] {
  const spec = kernelSpecs[kernel];
  const params = parseSignature(spec.signature);
  const index = (name: string, kinds: ParsedParam["kind"][], what: string): number => {
    const i = params.findIndex((p) => p.name === name);
    if (i < 0 || !kinds.includes(params[i]!.kind)) throw new Error(`${kernel}: ${what} '${name}' is not a ${kinds.join("/")} argument`);
    return i;
  };
  const lines: string[] = [];
  for (const n of spec.positive ?? []) lines.push(`c.Positive(${index(n, ["int"], "positive")});`);
  for (const key of Object.keys(spec.needs)) index(key, ["f32", "f32?", "i32"], "needs");
  params.forEach((p, i) => {
    if (p.kind !== "f32" && p.kind !== "f32?" && p.kind !== "i32") return;
    const formula = spec.needs[p.name];
    if (formula === undefined) throw new Error(`${kernel}: array '${p.name}' has no size rule`);
    lines.push(`c.Need(${i}, ${renderExpr(kernel, formula, params)}, ${cString(formula)});`);
  });
  for (const b of spec.bounds ?? []) {
    const i = index(b.arg, ["int"], "bound");
    lines.push(`c.Bound(c.I(${i}) ${b.op} ${renderExpr(kernel, b.limit, params)}, ${i}, ${cString(b.message)});`);
  }
  for (const n of spec.uint32 ?? []) lines.push(`c.Uint32(${index(n, ["num"], "uint32")});`);
  if (spec.tokens) {
    const t = spec.tokens;
    // The check reads `count` values, so it must read no more than the size rule of the array guarantees.
    if (spec.needs[t.array] !== t.count) throw new Error(`${kernel}: tokens count '${t.count}' differs from the size rule of '${t.array}'`);
    lines.push(
      `c.Tokens(${index(t.array, ["i32"], "tokens")}, ${renderExpr(kernel, t.count, params)}, ${renderExpr(kernel, t.limit, params)});`,
    );
  }
  return lines;
}

/** The whole generated file. */
export function renderKernelRules(): string {
  const entries = (Object.keys(kernelSpecs) as KernelName[]).map((k) => {
    const body = renderChecks(k)
      .map((l) => `       ${l}`)
      .join("\n");
    return `    {${cString(k)}, ${cString(kernelSpecs[k].signature)},\n     [](const Checker& c) {\n${body}\n     }},`;
  });
  return [
    "// GENERATED from native/kernel-specs.ts by native/kernel-rules-cc.ts: do not edit; regenerate with",
    "//   node --import tsx native/kernel-rules-cc.ts",
    "// The size rules of every kernel, checked by the addons before any kernel runs (the op layer checks the same).",
    '#include "kernel_args.h"',
    "",
    "namespace troupe {",
    "",
    "const std::vector<KernelRule>& KernelRules() {",
    "  static const std::vector<KernelRule> rules = {",
    ...entries,
    "  };",
    "  return rules;",
    "}",
    "",
    "}  // namespace troupe",
    "",
  ].join("\n");
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  writeFileSync(GENERATED_RULES_PATH, renderKernelRules());
  console.log(`wrote ${path.relative(process.cwd(), GENERATED_RULES_PATH)}`);
}
