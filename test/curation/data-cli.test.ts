// `troupe data --actors`: fuzzy dedup on actor processes from the command line gives the same corpus
// as the in-process run, and prints its progress per stage.
import { describe, expect, test } from "vitest";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { execFileSync, spawn } from "node:child_process";
import { loadBrown } from "../../ml/curation/brown.ts";
import { SeededRandom } from "../../ml/data/seeded-random.ts";
import { nearDuplicate } from "./near-duplicates.ts";

const repo = path.resolve(import.meta.dirname, "../..");

/** Runs the CLI; `onStderr` sees the stderr so far, with the CLI's pid, after every chunk. */
function troupe(
  args: string[],
  onStderr?: (text: string, pid: number) => void,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn("node", [path.join(repo, "bin/troupe.js"), ...args]);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      onStderr?.(stderr, child.pid!);
    });
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

function fuzzyDetails(out: string): Record<string, unknown> {
  const report = JSON.parse(readFileSync(path.join(out, "report.json"), "utf8")) as {
    stages: Array<{ stage: string; details: Record<string, unknown> }>;
  };
  return report.stages.find((s) => s.stage === "fuzzy-dedup")!.details;
}

describe("troupe data --actors", { timeout: 120_000 }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), "troupe-data-cli-"));
  const brown = loadBrown(["news"])
    .slice(0, 30)
    .map((d) => d.text.slice(0, 2000));
  writeFileSync(path.join(dir, "news.jsonl"), brown.map((text) => JSON.stringify({ text })).join("\n"));
  const rng = new SeededRandom(3);
  const web = brown.slice(0, 12).map((t, i) => nearDuplicate(t, i % 2 === 0 ? 0.9 : 0.6, rng).text);
  writeFileSync(path.join(dir, "web.jsonl"), web.map((text) => JSON.stringify({ text })).join("\n"));
  const cfg = path.join(dir, "curation.yaml");
  writeFileSync(
    cfg,
    JSON.stringify({
      datasets: [
        { name: "news", source: { jsonl: "news.jsonl" }, priority: 2 },
        { name: "web", source: { jsonl: "web.jsonl" }, priority: 1 },
      ],
      dedup: { exact: true, fuzzy: { workers: 1 } },
    }),
  );

  test("actors and in-process give the same corpus; progress lines per stage", async () => {
    const [onActors, inProcess] = await Promise.all([
      troupe(["data", cfg, "--out", path.join(dir, "actors"), "--actors", "2", "--reducers", "1"]),
      troupe(["data", cfg, "--out", path.join(dir, "threads"), "--actors", "0", "--quiet"]),
    ]);
    expect(onActors.status, onActors.stderr).toBe(0);
    expect(inProcess.status, inProcess.stderr).toBe(0);
    const err = onActors.stderr;
    expect(err).toMatch(/troupe data: fuzzy-dedup…/);
    expect(err).toMatch(/fuzzy-dedup: 2 signature actor\(s\) and 1 reducer\(s\) up in [\d.]+ s \(embedded cluster\)/);
    expect(err).toMatch(/fuzzy-dedup: signatures: \d+ documents in/);
    expect(err).toMatch(/fuzzy-dedup: reduce: \d+ candidate pairs in/);
    expect(err).toMatch(/fuzzy-dedup: verify: \d+ pairs in/);
    expect(inProcess.stderr).toBe("");

    const corpus = (d: string) => readFileSync(path.join(dir, d, "corpus.jsonl"), "utf8");
    expect(corpus("actors")).toBe(corpus("threads"));
    const a = fuzzyDetails(path.join(dir, "actors"));
    const t = fuzzyDetails(path.join(dir, "threads"));
    expect(a).toMatchObject({ mode: "actors", signatureActors: 2, reducers: 1, reassignedTasks: 0 });
    expect(t).toMatchObject({ mode: "worker threads", workers: 1 });
    expect(a.candidatePairs).toBe(t.candidatePairs);
    expect(a.verifiedDuplicatePairs).toBe(6); // the six planted pairs at J ≈ 0.9
    expect(t.verifiedDuplicatePairs).toBe(6);
    // only the outputs and the actor log are left; the shard files are gone
    expect(readdirSync(path.join(dir, "actors")).sort()).toEqual([
      "corpus.jsonl",
      "dedup-actors.log",
      "report.json",
      "report.txt",
      "valid.jsonl",
    ]);
  });

  test("a bad --actors or --reducers value, or an unreachable --nats, is one clear error line", async () => {
    for (const [flag, value] of [
      ["--actors", "two"],
      ["--reducers", "0"],
    ] as const) {
      const bad = await troupe(["data", cfg, "--out", path.join(dir, "bad"), flag, value]);
      expect(bad.status).toBe(2); // usage
      expect(bad.stderr.trim().split("\n")).toHaveLength(1);
      expect(bad.stderr).toMatch(new RegExp(`^troupe: ${flag} must be an integer from \\d to 64, got "${value}"`));
    }
    const unreachable = await troupe(["data", cfg, "--out", path.join(dir, "bad"), "--actors", "2", "--nats", "nats://127.0.0.1:1"]);
    expect(unreachable.status).toBe(1);
    expect(unreachable.stderr.trim().split("\n").at(-1)).toMatch(/^troupe: cannot reach nats-server at nats:\/\/127\.0\.0\.1:1/);
  });

  test("SIGKILL of a signature actor during `troupe data --actors 2`: shard reassigned, same corpus", async () => {
    // enough text that the signatures take a while: three full Brown genres plus planted near-duplicates
    const books = loadBrown(["learned", "government", "belles_lettres"]).map((d) => d.text);
    const dupes = books.slice(0, 20).map((t, i) => nearDuplicate(t.slice(0, 3000), i % 2 === 0 ? 0.92 : 0.5, rng).text);
    writeFileSync(path.join(dir, "books.jsonl"), books.map((text) => JSON.stringify({ text: text.slice(0, 3000) })).join("\n"));
    writeFileSync(path.join(dir, "dupes.jsonl"), dupes.map((text) => JSON.stringify({ text })).join("\n"));
    const big = path.join(dir, "big.yaml");
    writeFileSync(
      big,
      JSON.stringify({
        datasets: [
          { name: "books", source: { jsonl: "books.jsonl" }, priority: 1 },
          { name: "dupes", source: { jsonl: "dupes.jsonl" }, priority: 2 },
        ],
        dedup: { exact: false, fuzzy: { workers: 1 } },
      }),
    );
    let killed: number | undefined;
    const crashed = await troupe(["data", big, "--out", path.join(dir, "crash"), "--actors", "2", "--reducers", "1"], (text, cli) => {
      if (killed !== undefined || !/reducer\(s\) up in/.test(text)) return;
      // the actors are children of the CLI process (its host agent spawned them)
      const pids = execFileSync("pgrep", ["-P", String(cli), "-f", "role signature"], { encoding: "utf8" })
        .trim()
        .split("\n")
        .map(Number);
      killed = pids[0]!;
      process.kill(killed, "SIGKILL");
    });
    expect(crashed.status, crashed.stderr).toBe(0);
    expect(killed).toBeDefined();
    expect(crashed.stderr).toMatch(
      new RegExp(`signatures: dedup-\\w+-sig\\d \\(pid ${killed}\\) lost \\(.*SIGKILL.*\\); task \\d+ reassigned`),
    );
    const details = fuzzyDetails(path.join(dir, "crash"));
    expect(details.reassignedTasks).toBe(1);
    expect(details.actorRestarts).toBeGreaterThanOrEqual(1);
    expect(details.verifiedDuplicatePairs).toBe(10);

    const reference = await troupe(["data", big, "--out", path.join(dir, "reference"), "--actors", "0", "--quiet"]);
    expect(reference.status, reference.stderr).toBe(0);
    expect(readFileSync(path.join(dir, "crash", "corpus.jsonl"), "utf8")).toBe(
      readFileSync(path.join(dir, "reference", "corpus.jsonl"), "utf8"),
    );
  });
});
