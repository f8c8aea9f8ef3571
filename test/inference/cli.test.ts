// `troupe eval` and `troupe generate` with --tp/--pp end to end: child processes of the CLI, each starting a
// private nats-server, a host agent and the workers; results equal the single-process runs; bad flags fail
// with one clear line before any worker starts.
import { execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { saveSingle, trainedTinyModel } from "./fixture.ts";

const run = promisify(execFile);
const troupe = (args: string[]) =>
  run(process.execPath, ["bin/troupe.js", ...args], { cwd: path.resolve(import.meta.dirname, "../.."), timeout: 90_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

describe("troupe eval / generate on parallel workers", { timeout: 150_000 }, () => {
  let dir: string;
  let checkpoint: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "troupe-infer-cli-"));
    checkpoint = saveSingle(await trainedTinyModel(), path.join(dir, "checkpoints"));
    const lines = [
      { split: "train", context: "the cat sat on the", choices: ["mat.", "dog."], label: 0 },
      { split: "test", context: "the cat sat on the", choices: ["mat.", "cat.", "sat."], label: 0 },
      { split: "test", context: "the", choices: ["cat", "mat", "on"], label: 0 },
    ];
    writeFileSync(path.join(dir, "choice.jsonl"), lines.map((l) => JSON.stringify(l)).join("\n"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("generate --tp 2 --pp 2 prints the same greedy text as one process", async () => {
    const args = ["generate", "--checkpoint", checkpoint, "--prompt", "the cat", "--greedy", "--max-tokens", "40"];
    const [single, parallel] = [await troupe(args), await troupe([...args, "--tp", "2", "--pp", "2"])];
    expect(parallel.stderr).toBe("");
    expect(parallel.code).toBe(0);
    expect(single.stdout.length).toBeGreaterThan("the cat".length + 20);
    expect(parallel.stdout).toBe(single.stdout);
  });

  it("eval --dp 2 --tp 2 scores like one process and says where it ran", async () => {
    const task = path.join(dir, "choice.jsonl");
    const outSingle = path.join(dir, "single.json"),
      outParallel = path.join(dir, "parallel.json");
    const single = await troupe(["eval", "--checkpoint", checkpoint, "--task", task, "--shots", "0,1", "--out", outSingle]);
    const parallel = await troupe([
      "eval",
      "--checkpoint",
      checkpoint,
      "--task",
      task,
      "--shots",
      "0,1",
      "--out",
      outParallel,
      "--tp",
      "2",
      "--dp",
      "2",
      "--batch",
      "1",
    ]);
    expect(single.code).toBe(0);
    expect(parallel.stderr).toBe("");
    expect(parallel.code).toBe(0);
    expect(parallel.stdout).toMatch(/on dp 2 × pp 1 × tp 2 workers/);
    type Report = { results: { shots: number; metrics: Record<string, number> }[] };
    const a = JSON.parse(readFileSync(outSingle, "utf8")) as Report,
      b = JSON.parse(readFileSync(outParallel, "utf8")) as Report;
    expect(b.results.map((r) => r.shots)).toEqual([0, 1]);
    b.results.forEach((r, i) => {
      for (const [k, v] of Object.entries(a.results[i]!.metrics)) expect(Math.abs(r.metrics[k]! - v), k).toBeLessThan(1e-6);
    });
  });

  it("Ctrl-C during a parallel generate stops the workers and the private nats-server", async () => {
    // the job's folder (job file, server store) goes under TMPDIR: every process it starts names it
    const tmp = path.join(dir, "sigint-tmp");
    mkdirSync(tmp);
    const running = () =>
      readdirSync("/proc").filter((pid) => {
        if (!/^\d+$/.test(pid)) return false;
        try {
          return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(tmp);
        } catch {
          return false; // gone meanwhile
        }
      });
    const child = spawn(
      process.execPath,
      ["bin/troupe.js", "generate", "--checkpoint", checkpoint, "--prompt", "the cat", "--greedy", "--max-tokens", "100000", "--tp", "2"],
      {
        cwd: path.resolve(import.meta.dirname, "../.."),
        env: { ...process.env, TMPDIR: tmp },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    try {
      let out = "";
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on("data", (d: Buffer) => {
          out += d.toString();
          if (out.length > 40) resolve();
        });
        child.once("exit", (code) => reject(new Error(`exited early with ${code}`)));
      });
      expect(running().length).toBeGreaterThanOrEqual(3); // two workers and the nats-server
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      child.kill("SIGINT");
      expect(await exited).toBe(130);
      expect(running()).toEqual([]);
      expect(readdirSync(tmp).filter((f) => f.startsWith("troupe-"))).toEqual([]); // the job folder is removed (tsx keeps its cache here)
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });

  it("refuses bad flags with one clear line", async () => {
    const base = ["generate", "--checkpoint", checkpoint, "--prompt", "the"];
    // a flag value that is invalid by itself is a usage error (2); a valid one the model cannot take fails (1)
    for (const [flags, message, code] of [
      [["--tp", "3"], "troupe: --tp 3: the model's 4 attention heads cannot be split evenly over 3 tensor-parallel ranks", 1],
      [["--pp", "5"], "troupe: --pp 5: the model has only 4 layers, one stage needs at least one", 1],
      [["--tp", "0"], "troupe: --tp must be a whole number >= 1, got '0'", 2],
      [["--pp", "two"], "troupe: --pp must be a whole number >= 1, got 'two'", 2],
      [["--token-file", "t"], "troupe: --token-file needs --nats", 2],
    ] as const) {
      const r = await troupe([...base, ...flags]);
      expect(r.code, flags.join(" ")).toBe(code);
      expect(r.stderr.trim()).toBe(message);
    }
    const e = await troupe(["eval", "--checkpoint", checkpoint, "--bias", "--tp", "3"]);
    expect(e.code).toBe(1);
    expect(e.stderr.trim()).toMatch(/^troupe: --tp 3: the model's 4 attention heads/);
    const d = await troupe(["eval", "--checkpoint", checkpoint, "--bias", "--dp", "0"]);
    expect(d.stderr.trim()).toBe("troupe: --dp must be a whole number >= 1, got '0'");
  });
});
