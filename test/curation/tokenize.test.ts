import { describe, expect, test } from "vitest";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { holdOutValidation, tokenizeCorpus } from "../../ml/curation/tokenize.ts";
import { loadTokenizer, openIndexedDataset } from "../../ml/data/mod.ts";
import { loadBrown } from "../../ml/curation/brown.ts";
import type { CurationDoc } from "../../ml/curation/types.ts";

describe("tokenize", () => {
  const docs: CurationDoc[] = [
    ...loadBrown(["humor"])
      .slice(0, 3)
      .map((d) => ({ id: `h/${d.id}`, dataset: "h", priority: 0, text: d.text.slice(0, 2000) })),
    ...loadBrown(["lore"])
      .slice(0, 3)
      .map((d) => ({ id: `l/${d.id}`, dataset: "l", priority: 0, text: d.text.slice(0, 2000) })),
  ];

  test("hold-out takes the asked number per dataset, by seed, never a whole dataset", () => {
    const { train, valid } = holdOutValidation(docs, 1, 7);
    expect(valid.map((d) => d.dataset).sort()).toEqual(["h", "l"]);
    expect(train.length).toBe(4);
    expect(holdOutValidation(docs, 1, 7).valid).toEqual(valid);
    expect(holdOutValidation(docs.slice(0, 1), 5, 7).valid).toEqual([]);
  });

  test("writes a tokenizer and train/valid datasets that decode back to the documents", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "troupe-tokenize-"));
    const { train, valid } = holdOutValidation(docs, 1, 7);
    const blended = [train[0]!, ...train, train[2]!]; // repeats, as a blend with epochs > 1 has
    const { result, report } = tokenizeCorpus(dir, blended, valid, { vocabSize: 320, validPerDataset: 1 });
    expect(result.vocabSize).toBe(320);
    const tokenizer = loadTokenizer(result.tokenizerPath);
    const trainSet = openIndexedDataset(path.join(dir, "train"));
    const validSet = openIndexedDataset(path.join(dir, "valid"));
    expect(trainSet.documentCount).toBe(blended.length);
    expect(validSet.documentCount).toBe(valid.length);
    blended.forEach((d, i) => {
      const ids = Array.from(trainSet.document(i));
      expect(ids[ids.length - 1]).toBe(tokenizer.eotId);
      expect(tokenizer.decode(ids.slice(0, -1))).toBe(d.text);
    });
    expect(tokenizer.decode(Array.from(validSet.document(0)).slice(0, -1))).toBe(valid[0]!.text);
    expect(trainSet.tokenCount).toBe(result.trainTokens);
    const meta = JSON.parse(readFileSync(path.join(dir, "meta.json"), "utf8"));
    expect(meta.trainDocumentIds).toEqual(blended.map((d) => d.id));
    expect(meta.unigramEntropyNats).toBeCloseTo(result.unigramEntropyNats, 12);
    expect(report.details.bytesPerToken).toBeGreaterThan(1);
  });
});
