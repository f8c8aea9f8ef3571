// SIGKILL of a real process in the middle of a background checkpoint write: the previous checkpoint stays
// whole and `latest`, and the next save of the same step succeeds.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CheckpointWriter } from "../../ml/checkpoint/async-save.ts";
import { latestCheckpointDir, loadCheckpoint, stagingDirName, stepDirName } from "../../ml/checkpoint/store.ts";
import { latestGoodCheckpoint } from "../../ml/checkpoint/verify.ts";
import { checkpointContent } from "./fixtures/content.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-kill-ckpt-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("a process killed during a background checkpoint write", () => {
  it("leaves the previous checkpoint loadable and `latest` naming it", async () => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", path.join(import.meta.dirname, "fixtures/kill-during-write-child.ts"), root],
      {
        cwd: path.join(import.meta.dirname, "../.."),
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal)));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on("data", (d: Buffer) => d.toString().includes("writing") && resolve());
        child.on("exit", (code) => reject(new Error(`child exited (${code}) before the write: ${stderr}`)));
      });
      child.kill("SIGKILL");
      expect(await exited).toBe("SIGKILL");
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
    expect(existsSync(stagingDirName(root, 2))).toBe(true); // the write was under way
    expect(readdirSync(root).filter((n) => n.startsWith("step-"))).toEqual([stepDirName(1)]);
    expect(latestCheckpointDir(root)).toBe(path.join(root, stepDirName(1)));
    expect(latestGoodCheckpoint(root)).toEqual({ dir: path.join(root, stepDirName(1)), skipped: [] });
    expect(loadCheckpoint(path.join(root, stepDirName(1))).params.get("wte")!.data).toEqual(checkpointContent(1).params[0]!.data);
    // a new process saves step 2 over the leftover staging folder
    const dir = await (await new CheckpointWriter().save(root, checkpointContent(2), { keep: 3 })).written;
    expect(latestCheckpointDir(root)).toBe(dir);
    expect(loadCheckpoint(dir).manifest.step).toBe(2);
  });
});
