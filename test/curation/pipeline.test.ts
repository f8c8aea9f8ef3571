import { describe, expect, test } from "vitest";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { parseCurationConfig, runCuration, writeCurationOutput } from "../../ml/curation/mod.ts";
import { loadBrown } from "../../ml/curation/brown.ts";
import { SeededRandom } from "../../ml/data/seeded-random.ts";
import { nearDuplicate } from "./near-duplicates.ts";

const repo = path.resolve(import.meta.dirname, "../..");

/** A small corpus with one planted case per stage. */
function makeCorpus(): { dir: string; config: Record<string, unknown> } {
  const dir = mkdtempSync(path.join(tmpdir(), "troupe-curation-"));
  const brown = loadBrown(["learned"]).map((d) => d.text.slice(0, 3000));
  const rng = new SeededRandom(9);
  mkdirSync(path.join(dir, "books"));
  for (let i = 0; i < 6; i++) writeFileSync(path.join(dir, "books", `b${i}.txt`), brown[i]!);
  const task = "the committee reported that every sample of the alloy failed the stress test at low temperature";
  const contaminated = `${brown[10]!.slice(0, 1200)} The committee reported that every sample of the alloy failed the stress test at low temperature. ${brown[10]!.slice(1200)}`;
  const web = [
    brown[0]!, // exact copy of books/b0.txt (books has higher priority)
    nearDuplicate(brown[1]!, 0.92, rng).text, // near-duplicate of books/b1.txt
    "too short",
    `${brown[7]!}\u0000\u0007`,
    brown[8]!.split(/\s+/).reverse().join(" "), // word salad
    contaminated,
    brown[9]!,
  ];
  writeFileSync(path.join(dir, "web.jsonl"), web.map((text) => JSON.stringify({ text })).join("\n"));
  writeFileSync(
    path.join(dir, "tasks.jsonl"),
    `${JSON.stringify({ split: "test", context: task.split(" ").slice(0, -1).join(" "), target: "temperature" })}\n`,
  );
  const config = {
    seed: 5,
    datasets: [
      { name: "books", source: { folder: "books" }, priority: 2, weight: 2 },
      { name: "web", source: { jsonl: "web.jsonl" }, priority: 1, weight: 1 },
    ],
    cleanup: { normalize: "NFC", minChars: 200 },
    quality: {
      positives: [{ brown: ["government", "news"] }],
      negatives: [{ corrupted: { brown: ["lore", "hobbies"] } }],
      datasets: ["web"],
      buckets: 65536,
      iterations: 150,
    },
    dedup: { exact: true, fuzzy: { workers: 2 } },
    decontamination: { tasks: [{ path: "tasks.jsonl" }] },
  };
  return { dir, config };
}

// Real worker threads and child processes on a shared 2-core machine: allow for heavy load.
describe("the whole pipeline", { timeout: 120_000 }, () => {
  const { dir, config } = makeCorpus();

  test("every stage removes its planted case and the run is deterministic", async () => {
    const parsed = parseCurationConfig(config);
    const first = await runCuration(parsed, dir);
    const stages = first.reports.map((r) => r.stage);
    expect(stages).toEqual(["sources", "cleanup", "quality-filter", "exact-dedup", "fuzzy-dedup", "decontamination", "blend"]);
    const byStage = Object.fromEntries(first.reports.map((r) => [r.stage, r]));
    const removedIds = (stage: string): string[] => byStage[stage]!.removed.flatMap((r) => r.examples.map((e) => e.id));
    const cleaned = byStage["cleanup"]!.removed;
    expect(cleaned.find((r) => r.reason.startsWith("shorter"))!.examples.map((e) => e.id)).toEqual(["web/web.jsonl:3"]);
    expect(cleaned.find((r) => r.reason.startsWith("characters removed"))!.examples.map((e) => e.id)).toContain("web/web.jsonl:4");
    expect(removedIds("quality-filter")).toEqual(["web/web.jsonl:5"]);
    expect(removedIds("exact-dedup")).toEqual(["web/web.jsonl:1"]);
    expect(removedIds("fuzzy-dedup")).toEqual(["web/web.jsonl:2"]);
    expect(removedIds("decontamination")).toEqual(["web/web.jsonl:6"]);
    expect(byStage["decontamination"]!.docsOut).toBe(byStage["decontamination"]!.docsIn + 1); // split in two
    // books: 6 docs × 2 epochs; web: b7, b9 and the two fragments of the contaminated doc
    expect(first.docs.length).toBe(12 + 4);
    for (const d of first.docs) expect(d.text).not.toMatch(/alloy failed the stress/);

    const second = await runCuration(parseCurationConfig(config), dir);
    expect(second.docs).toEqual(first.docs);

    const files = await writeCurationOutput(path.join(dir, "out"), first);
    const lines = readFileSync(files.corpus, "utf8").trim().split("\n");
    expect(lines.length).toBe(16);
    expect(JSON.parse(readFileSync(files.reportJson, "utf8")).stages.length).toBe(7);
    expect(readFileSync(files.reportText, "utf8")).toContain("near-duplicate (jaccard ≥ 0.8)");
  });

  test("troupe data runs from the command line; a bad config is one clear error line", () => {
    const cfgFile = path.join(dir, "curation.yaml");
    writeFileSync(cfgFile, JSON.stringify({ ...config, quality: undefined, tokenize: { vocabSize: 300, validPerDataset: 1 } }));
    const ok = spawnSync("node", [path.join(repo, "bin/troupe.js"), "data", cfgFile, "--out", path.join(dir, "cli-out"), "--quiet"], {
      encoding: "utf8",
    });
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/fuzzy-dedup\s+\d+ → \d+ docs/);
    expect(ok.stdout).toMatch(/hold-out .* removed 2 docs/);
    expect(ok.stdout).toMatch(/tokenized: .*vocabulary 300/);
    expect(readFileSync(path.join(dir, "cli-out", "corpus.jsonl"), "utf8").length).toBeGreaterThan(1000);
    expect(
      readFileSync(path.join(dir, "cli-out", "valid.jsonl"), "utf8")
        .trim()
        .split("\n"),
    ).toHaveLength(2);
    for (const f of ["tokenizer.json", "train.bin", "train.idx", "valid.bin", "valid.idx", "meta.json"]) {
      expect(readFileSync(path.join(dir, "cli-out", "tokenized", f)).length).toBeGreaterThan(0);
    }

    writeFileSync(cfgFile, "datasets:\n  - name: x\n    source: { brown: news }\ndedup: { fuzzy: { threshold: 2 } }\n");
    const bad = spawnSync("node", [path.join(repo, "bin/troupe.js"), "data", cfgFile, "--out", path.join(dir, "bad-out")], {
      encoding: "utf8",
    });
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
    expect(bad.stderr).toMatch(/^troupe: .*dedup\.fuzzy\.threshold: /);
  });
});
