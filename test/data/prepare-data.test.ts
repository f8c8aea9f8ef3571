import { mkdtempSync, rmSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  loadBrownCorpus,
  loadTokenizer,
  openPreparedData,
  prepareData,
  splitDocuments,
  unigramCrossEntropy,
  type PreparedData,
  type PrepareProgress,
} from "../../ml/data/mod.ts";

const cacheDir = mkdtempSync(path.join(tmpdir(), "troupe-prepare-"));
afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

// Two documents from each genre keep the test fast while exercising the real corpus.
const brown = loadBrownCorpus();
const documents = [...new Set(brown.map((d) => d.genre))].flatMap((g) => brown.filter((d) => d.genre === g).slice(0, 3));
const split = { validPerGenre: 1, seed: 5 };

describe("unigramCrossEntropy", () => {
  it("matches a hand computation with add-one smoothing", () => {
    // vocab 3, train counts [2, 1, 0] → p = [3/6, 2/6, 1/6]; valid [0, 2] → (ln 2 + ln 6) / 2 nats.
    const h = unigramCrossEntropy([0, 0, 1], [0, 2], 3);
    expect(h.nats).toBeCloseTo((Math.log(2) + Math.log(6)) / 2, 12);
    expect(h.bits).toBeCloseTo(h.nats / Math.LN2, 12);
  });
});

describe("prepareData", () => {
  const events: PrepareProgress[] = [];
  let first: PreparedData;
  beforeAll(async () => {
    first = await prepareData({ cacheDir, vocabSize: 600, documents, split, onProgress: (p) => events.push(p) });
  });

  it("builds the tokenizer and datasets, reporting progress", () => {
    expect(first.cacheHit).toBe(false);
    expect(first.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(first.tokenizer.vocabSize).toBe(600);
    expect(first.tokenizer.eotId).toBe(599);
    expect(new Set(events.map((e) => e.stage))).toEqual(new Set(["load", "train-tokenizer", "tokenize", "entropy"]));
    const expected = splitDocuments(documents, split);
    expect(first.validDocumentIds).toEqual(expected.valid.map((d) => d.id));
    expect(first.train.documentCount).toBe(expected.train.length);
    expect(first.valid.documentCount).toBe(15);
  });

  it("stores each document as its tokens followed by end-of-text", () => {
    const valid = splitDocuments(documents, split).valid;
    for (let i = 0; i < valid.length; i++) {
      const doc = Array.from(first.valid.document(i));
      expect(doc.at(-1)).toBe(first.tokenizer.eotId);
      expect(first.tokenizer.decode(doc.slice(0, -1))).toBe(valid[i]!.text);
    }
  });

  it("computes the unigram baseline from the stored tokens, below the uniform log2(vocab)", () => {
    const h = unigramCrossEntropy(first.train.tokens, first.valid.tokens, 600);
    expect(first.unigramEntropyBits).toBeCloseTo(h.bits, 10);
    expect(first.unigramEntropyNats).toBeCloseTo(h.nats, 10);
    expect(first.unigramEntropyBits).toBeGreaterThan(5);
    expect(first.unigramEntropyBits).toBeLessThan(Math.log2(600));
  });

  it("reuses the cache when nothing changed and rebuilds when any setting changes", async () => {
    const again = await prepareData({ cacheDir, vocabSize: 600, documents, split });
    expect(again.cacheHit).toBe(true);
    expect(again.hash).toBe(first.hash);
    expect(Array.from(again.train.tokens)).toEqual(Array.from(first.train.tokens));
    expect(loadTokenizer(again.tokenizerPath).encode("The jury said")).toEqual(first.tokenizer.encode("The jury said"));

    const otherVocab = await prepareData({ cacheDir, vocabSize: 610, documents, split });
    const otherSplit = await prepareData({ cacheDir, vocabSize: 600, documents, split: { ...split, seed: 6 } });
    const edited = documents.map((d, i) => (i === 0 ? { ...d, text: d.text + " More." } : d));
    const otherText = await prepareData({ cacheDir, vocabSize: 600, documents: edited, split });
    for (const p of [otherVocab, otherSplit, otherText]) {
      expect(p.cacheHit).toBe(false);
      expect(p.hash).not.toBe(first.hash);
    }
  });

  it("reopens a prepared folder by path and refuses one without metadata", () => {
    const reopened = openPreparedData(first.dir);
    expect(reopened.hash).toBe(first.hash);
    expect(reopened.valid.tokenCount).toBe(first.valid.tokenCount);
    expect(() => openPreparedData(cacheDir)).toThrow(/meta\.json: prepared-data metadata does not exist/);
  });

  it("rebuilds a damaged cache entry instead of using it", async () => {
    truncateSync(first.train.binPath, 10);
    const rebuilt = await prepareData({ cacheDir, vocabSize: 600, documents, split });
    expect(rebuilt.cacheHit).toBe(false);
    expect(rebuilt.train.tokenCount).toBe(first.train.tokenCount);
  });

  it("rejects a vocabulary too small for bytes plus end-of-text, and splits with no validation", async () => {
    await expect(prepareData({ cacheDir, vocabSize: 256, documents })).rejects.toThrow(/vocabSize/);
    await expect(prepareData({ cacheDir, vocabSize: 600, documents, split: { validPerGenre: 0 } })).rejects.toThrow(/validation/);
  });
});
