import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadCheckpoint, latestCheckpointDir } from "../../ml/checkpoint/store.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-sigint-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("Ctrl-C", () => {
  it("a real child process saves a checkpoint on SIGINT and exits cleanly", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(import.meta.dirname, "fixtures/sigint-child.ts"), root], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    let sent = false;
    child.stdout.on("data", (d) => {
      out += d;
      if (!sent && /step 3\n/.test(out)) {
        sent = true;
        child.kill("SIGINT");
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
    expect(err).toBe("");
    expect(code).toBe(0);
    const lastStep = Number(/step=(\d+)/.exec(out)![1]);
    expect(out).toContain("stopping");
    expect(out).toContain("interrupted=true");
    expect(lastStep).toBeGreaterThanOrEqual(3);
    const dir = latestCheckpointDir(root)!;
    expect(loadCheckpoint(dir).manifest.step).toBe(lastStep);
  });
});
