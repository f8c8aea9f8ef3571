import { describe, expect, test } from "vitest";
import { findNearDuplicates, fuzzyDedup, type FuzzyDedupConfig } from "../../ml/curation/fuzzy-dedup.ts";
import { SeededRandom } from "../../ml/data/seeded-random.ts";
import type { CurationDoc } from "../../ml/curation/types.ts";
import { nearDuplicate, plantedCorpus, randomDoc } from "./near-duplicates.ts";

const MTNLG: FuzzyDedupConfig = { shingle: 5, bands: 20, rows: 13, seed: 1, threshold: 0.8, workers: 2 };

describe("fuzzy dedup", { timeout: 90_000 }, () => {
  test("planted pairs at J ≥ 0.9 are removed, pairs at J ≈ 0.5 are kept", async () => {
    const { texts, pairs } = plantedCorpus(11, 40, 150, [0.5, 0.95, 0.9, 0.6]);
    const found = await findNearDuplicates(texts, new Array(texts.length).fill(0), MTNLG);
    for (const p of pairs) {
      if (p.jaccard >= 0.88) expect(found.keep[p.b], `pair at J=${p.jaccard}`).toBe(false);
      if (p.jaccard < 0.7) expect(found.keep[p.b]).toBe(true);
      expect(found.keep[p.a]).toBe(true); // the first of a pair wins at equal priority
    }
    for (const [, , s] of found.edges) expect(s).toBeGreaterThanOrEqual(0.8);
  });

  test("a candidate pair below the threshold is rejected by exact jaccard", async () => {
    const rng = new SeededRandom(5);
    const a = randomDoc(rng, 150);
    // 0.75 is often an LSH candidate (p≈0.4 per pair); run with a lowered threshold to see it verified
    const b = nearDuplicate(a, 0.75, rng);
    const strict = await findNearDuplicates([a, b.text], [0, 0], { ...MTNLG, workers: 1, bands: 60, rows: 3 });
    expect(strict.candidateSims.length).toBe(1);
    expect(strict.candidateSims[0]).toBeCloseTo(b.jaccard, 12);
    expect(strict.keep).toEqual([true, true]);
  });

  test("chains form one component and the highest-priority dataset's copy is kept", async () => {
    const rng = new SeededRandom(6);
    const a = randomDoc(rng, 200);
    const b = nearDuplicate(a, 0.93, rng).text;
    const c = nearDuplicate(b, 0.93, rng).text;
    const docs: CurationDoc[] = [
      { id: "web/1", dataset: "web", priority: 1, text: a },
      { id: "other/1", dataset: "other", priority: 0, text: randomDoc(rng, 200) },
      { id: "web/2", dataset: "web", priority: 1, text: b },
      { id: "books/1", dataset: "books", priority: 5, text: c },
    ];
    const { docs: out, report } = await fuzzyDedup(docs, MTNLG);
    expect(out.map((d) => d.id)).toEqual(["other/1", "books/1"]);
    expect(report.removed[0]!.docs).toBe(2);
    expect(report.removed[0]!.examples[0]!.note).toContain("kept books/1");
    expect(report.details.components).toBe(1);
  });

  test("the result does not depend on the number of workers", async () => {
    const { texts } = plantedCorpus(12, 30, 120, [0.85, 0.95, 0.8, 0.7]);
    const prio = texts.map((_, i) => i % 3);
    const runs = [];
    for (const workers of [1, 3]) runs.push(await findNearDuplicates(texts, prio, { ...MTNLG, workers }));
    expect(runs[1]!.keep).toEqual(runs[0]!.keep);
    expect([...runs[1]!.candidates]).toEqual([...runs[0]!.candidates]);
    expect(runs[1]!.edges).toEqual(runs[0]!.edges);
  });
});
