// The kernel size rules live once, in native/kernel-specs.ts: the op layer interprets them and the addon's C++
// checks are rendered from them. These tests fail when the rendered file is stale, and when the two
// interpreters disagree on any call over a grid of sizes for every rule (same error, same message, or both pass).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { addon } from "../../native/addon.ts";
import { GENERATED_RULES_PATH, renderKernelRules } from "../../native/kernel-rules-cc.ts";
import { kernelSpecs, parseSignature } from "../../native/kernel-specs.ts";
import { expectSameRules, kernels } from "./rule-grid.ts";

describe("kernel size rules", () => {
  it("the addon's C++ rule table is the one rendered from native/kernel-specs.ts (else: node --import tsx native/kernel-rules-cc.ts)", () => {
    expect(readFileSync(GENERATED_RULES_PATH, "utf8")).toBe(renderKernelRules());
  });

  it.each(kernels)("%s: the op layer and the addon accept and reject the same calls with the same message", (kernel) => {
    expectSameRules(kernel, (name, ...args) => addon.checkCall(name, ...args));
  });

  it("every array of every kernel has a size rule, and the rules name only integer arguments", () => {
    expect(() => renderKernelRules()).not.toThrow();
    for (const k of kernels) {
      const params = parseSignature(kernelSpecs[k].signature);
      for (const p of params.filter((q) => q.kind !== "int" && q.kind !== "num"))
        expect(kernelSpecs[k].needs[p.name], `${k}.${p.name}`).toBeDefined();
    }
  });
});
