// Runs the `plan` subcommand in-process (a fresh commander program with only this command), so the test does
// not depend on the other subcommands of the CLI.
import { Command } from "commander";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { register } from "../../cli/commands/plan.ts";

const dir = mkdtempSync(path.join(os.tmpdir(), "troupe-plan-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

async function plan(...args: string[]): Promise<string> {
  const program = new Command("troupe").exitOverride();
  register(program);
  const lines: string[] = [];
  vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => void lines.push(a.join(" ")));
  await program.parseAsync(["plan", ...args], { from: "user" });
  return lines.join("\n");
}

describe("troupe plan", () => {
  const config = path.join(dir, "small.yaml");
  // a full training config shape: sections the plan does not read are ignored
  writeFileSync(
    config,
    [
      "model: { layers: 4, dModel: 64, heads: 4, seqLen: 32 }",
      "data: { corpus: brown, vocabSize: 512, heldOutDocs: 10 }",
      "batch: { size: 16, microBatch: 1 }",
      "optimizer: { lr: 0.001 }",
      "parallel: { dp: 2, pp: 2, tp: 2 }",
    ].join("\n"),
  );

  it("prints both placements and the bytes per link class", async () => {
    const out = await plan(config, "--hosts", "2", "--slots-per-host", "4");
    expect(out).toContain("dp 2 × pp 2 × tp 2 = 8 ranks");
    expect(out).toContain("placement (topology): TP groups inside one host 4/4");
    expect(out).toContain("placement (naive): TP groups inside one host 0/4");
    expect(out).toMatch(/host 0: ranks 0-3 {2}\(d 0-1, p 0, t 0-1\)/);
    expect(out).toMatch(/other-host bytes, topology-aware: .*× less than naive/);
  });

  it("estimates a pipeline schedule's bubble on the plan's split", async () => {
    const out = await plan(config, "--hosts", "2", "--slots-per-host", "4", "--schedule", "1f1b");
    expect(out).toMatch(
      /schedule 1f1b, rendezvous transfers: bubble 0\.\d{4} simulated .* = 0\.1111\); stage 0 holds at most 2 micro-batches/,
    );
    await expect(plan(config, "--hosts", "2", "--slots-per-host", "4", "--schedule", "1f1b", "--transfers", "lazy")).rejects.toThrow(
      /transfer order must be rendezvous or eager/,
    );
  });

  it("takes sizes from flags and prints JSON on request", async () => {
    const text = await plan(config, "--hosts", "1", "--slots-per-host", "8", "--dp", "1", "--pp", "4", "--tp", "2", "--json");
    const out = JSON.parse(text) as { worldSize: number; microbatches: number; topology: { traffic: { total: { otherHost: number } } } };
    expect(out.worldSize).toBe(8);
    expect(out.microbatches).toBe(16);
    expect(out.topology.traffic.total.otherHost).toBe(0); // one host: nothing leaves it
  });

  it("names the problem for bad input", async () => {
    await expect(plan(config, "--hosts", "1", "--slots-per-host", "4")).rejects.toThrow(
      "dp·pp·tp = 8 ranks do not fit on 1 hosts × 4 slots = 4 slots",
    );
    await expect(plan(config, "--hosts", "two", "--slots-per-host", "4")).rejects.toThrow("--hosts must be a positive integer, got 'two'");
    await expect(plan(path.join(dir, "nope.yaml"), "--hosts", "1", "--slots-per-host", "4")).rejects.toThrow(/cannot read config file/);
    await expect(plan(config, "--hosts", "2", "--slots-per-host", "4", "--dp", "3", "--tp", "1")).rejects.toThrow(
      "global batch 16 is not a multiple of dp × microBatch = 3 × 1",
    );
    writeFileSync(path.join(dir, "novocab.yaml"), "model: { layers: 2, dModel: 8, seqLen: 4 }\nbatch: { size: 2, microBatch: 1 }\n");
    await expect(plan(path.join(dir, "novocab.yaml"), "--hosts", "1", "--slots-per-host", "1")).rejects.toThrow(
      /set data.vocabSize \(or model.vocabSize\)/,
    );
  });
});
