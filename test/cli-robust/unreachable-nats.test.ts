// Every CLI command given an unreachable --nats fails within seconds with one line, `troupe: cannot reach
// nats-server at URL: …`, and exit code 1: a refused port, and a port that accepts the connection but never
// speaks NATS (a black hole: only the handshake deadline ends the wait). Each command runs as a child process.
import { existsSync } from "node:fs";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { saveSingle, trainedTinyModel } from "../inference/fixture.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-unreachable-"));
const cli = path.resolve("bin/troupe.js");
/** Generous for a loaded 2-core machine (node + tsx start-up alone takes seconds there); a hang never ends. */
// generous: a loaded 2-core machine can take 20 s just to start node + tsx; a hang is killed at twice this
const DEADLINE_MS = 50_000;

interface Outcome {
  code: number | null;
  stderr: string;
  ms: number;
}

function runCli(args: string[]): Promise<Outcome> {
  const started = performance.now();
  return new Promise((resolve) => {
    // killed well after the deadline, so a hang shows as a failed assertion rather than a test timeout
    execFile(
      "node",
      [cli, ...args],
      { cwd: root, encoding: "utf8", timeout: DEADLINE_MS * 2, killSignal: "SIGKILL" },
      (err, _stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : null) : 0;
        resolve({ code, stderr, ms: performance.now() - started });
      },
    );
  });
}

/** Runs `jobs` at most `width` at a time (the machine is small and shared). */
async function limited<T>(jobs: (() => Promise<T>)[], width: number): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < jobs.length) {
        const i = next++;
        out[i] = await jobs[i]!();
      }
    }),
  );
  return out;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

function expectUnreachable(name: string, url: string, o: Outcome): void {
  const last = o.stderr.trim().split("\n").at(-1) ?? "";
  expect({ name, code: o.code, last }).toMatchObject({
    name,
    code: 1,
    last: expect.stringMatching(new RegExp(`^troupe: cannot reach nats-server at ${escape(url)}: \\S`)),
  });
  expect(o.ms, `${name} took ${Math.round(o.ms)} ms`).toBeLessThan(DEADLINE_MS);
}

describe("CLI commands with an unreachable --nats", () => {
  let checkpoint: string;
  let blackHole: net.Server;
  let blackHoleUrl: string;
  const held = new Set<net.Socket>();
  beforeAll(async () => {
    checkpoint = saveSingle(await trainedTinyModel(1), path.join(root, "ckpt"));
    blackHole = net.createServer((socket) => {
      held.add(socket); // accepts, then says nothing
      socket.on("error", () => undefined);
    });
    await new Promise<void>((r) => blackHole.listen(0, "127.0.0.1", r));
    blackHoleUrl = `nats://127.0.0.1:${(blackHole.address() as net.AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const s of held) s.destroy();
    await new Promise((r) => blackHole?.close(r));
    rmSync(root, { recursive: true, force: true });
  });

  const commands = (): [string, string[]][] => [
    ["agent", ["agent"]],
    ["chaos", ["chaos", "--job", "j"]],
    ["data", ["data", path.resolve("examples/curation.yaml"), "--out", path.join(root, "corpus")]],
    ["eval", ["eval", "--checkpoint", checkpoint, "--task", path.resolve("examples/tasks/brown-lastword.jsonl")]],
    ["events", ["events"]],
    ["generate", ["generate", "--checkpoint", checkpoint, "--prompt", "The jury"]],
    ["inspect", ["inspect", "w0"]],
    ["kill", ["kill", "w0"]],
    ["logs", ["logs", "w0"]],
    ["ps", ["ps"]],
    ["restart", ["restart", "w0"]],
    ["train", ["train", path.resolve("examples/brown-dp2.yaml"), "--steps", "1", "--run-dir", path.join(root, "run")]],
  ];

  it("a refused port: every command fails at once with the one-line error and exit 1", async () => {
    const url = "nats://127.0.0.1:1";
    const list = commands();
    const outcomes = await limited(
      list.map(
        ([, args]) =>
          () =>
            runCli([...args, "--nats", url]),
      ),
      3,
    );
    list.forEach(([name], i) => expectUnreachable(name, url, outcomes[i]!));
  }, 300_000);

  it("a single-rank config with --nats is a one-worker job on that cluster: an unreachable one fails fast, nothing written", async () => {
    const runDir = path.join(root, "single");
    const o = await runCli([
      "train",
      path.resolve("examples/brown-tiny.yaml"),
      "--steps",
      "1",
      "--run-dir",
      runDir,
      "--nats",
      "nats://127.0.0.1:1",
    ]);
    expectUnreachable("train (one rank)", "nats://127.0.0.1:1", o);
    expect(existsSync(runDir)).toBe(false);
  }, 60_000);

  it("a port that never answers: the handshake deadline fails the command", async () => {
    const list = commands().filter(([name]) => ["agent", "ps", "train", "eval", "data"].includes(name));
    const outcomes = await limited(
      list.map(
        ([, args]) =>
          () =>
            runCli([...args, "--nats", blackHoleUrl]),
      ),
      3,
    );
    list.forEach(([name], i) => expectUnreachable(name, blackHoleUrl, outcomes[i]!));
  }, 300_000);
});
