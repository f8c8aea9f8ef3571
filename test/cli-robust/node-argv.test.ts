import { describe, expect, it } from "vitest";
import { resolveNodeArgs } from "../../runtime/agent/node-argv.ts";

describe("resolveNodeArgs (the agent's node command line, independent of the child's cwd)", () => {
  it("resolves bare loader names given to --import / --loader from the agent's installation", () => {
    const out = resolveNodeArgs(["--import", "tsx", "--single-threaded-gc", "/x/main.ts", "--job", "j.json"]);
    expect(out[1]).toMatch(/^file:\/\/\/.*\/node_modules\/tsx\//);
    expect(out.slice(2)).toEqual(["--single-threaded-gc", "/x/main.ts", "--job", "j.json"]);
    expect(resolveNodeArgs(["--import=tsx", "m.ts"])[0]).toMatch(/^--import=file:\/\/\/.*\/node_modules\/tsx\//);
  });

  it("leaves paths, URLs, unknown packages and the script's own arguments alone", () => {
    const fake = (s: string) => {
      if (s === "missing-pkg") throw new Error("not found");
      return `file:///resolved/${s}`;
    };
    expect(
      resolveNodeArgs(
        ["--import", "./local.mjs", "--loader", "file:///a/b.mjs", "--import", "missing-pkg", "main.ts", "--import", "tsx"],
        fake,
      ),
    ).toEqual(["--import", "./local.mjs", "--loader", "file:///a/b.mjs", "--import", "missing-pkg", "main.ts", "--import", "tsx"]);
    expect(resolveNodeArgs(["--import", "@scope/pkg/sub", "-e", "0"], fake)).toEqual([
      "--import",
      "file:///resolved/@scope/pkg/sub",
      "-e",
      "0",
    ]);
    expect(resolveNodeArgs(["--import", "/abs/loader.mjs", "--import", "node:fs", "m.ts"], fake)).toEqual([
      "--import",
      "/abs/loader.mjs",
      "--import",
      "node:fs",
      "m.ts",
    ]);
  });
});
