import { describe, expect, test } from "vitest";
import { parseCurationConfig } from "../../ml/curation/config.ts";
import { CurationConfigError } from "../../ml/curation/errors.ts";
import { startFuzzyPool } from "../../ml/curation/fuzzy-dedup.ts";
import { WorkerFailedError } from "../../ml/curation/errors.ts";

const base = { datasets: [{ name: "news", source: { brown: "news" } }] };

describe("curation config", () => {
  test("defaults follow MT-NLG and Megatron", () => {
    const c = parseCurationConfig({ ...base, dedup: { fuzzy: {} }, decontamination: { tasks: [{ path: "t.jsonl" }] } });
    expect(c.cleanup).toEqual({ normalize: "NFC", minChars: 200 });
    expect(c.dedup!.exact).toBe(true);
    expect(c.dedup!.fuzzy).toMatchObject({ shingle: 5, bands: 20, rows: 13, threshold: 0.8 });
    expect(c.decontamination).toMatchObject({
      ngram: 13,
      minNgram: 8,
      maxFrequency: 10,
      removeChars: 200,
      minFragment: 200,
      maxSplits: 10,
    });
    expect(c.blend.mode).toBe("epochs");
  });

  test.each([
    [{ datasets: [] }, /datasets: /],
    [{ datasets: [base.datasets[0], base.datasets[0]] }, /datasets\.1\.name: dataset name "news" is used twice/],
    [
      { ...base, quality: { positives: [{ brown: "news" }], negatives: [{ corrupted: { brown: "news" } }], datasets: ["web"] } },
      /quality\.datasets\.0: unknown dataset "web"/,
    ],
    [{ ...base, blend: { mode: "fractions" } }, /datasets\.0\.weight: blend\.mode fractions needs a weight/],
    [{ ...base, dedup: { fuzzy: { threshold: 1.5 } } }, /dedup\.fuzzy\.threshold/],
    [{ ...base, datasets: [{ name: "x", source: { pdf: "a.pdf" } }] }, /datasets\.0\.source: a source is one of/],
    [{ ...base, cleanup: { normalize: "NFD" } }, /cleanup\.normalize/],
    [{ ...base, unknownSection: 1 }, /unknownSection/],
  ])("rejects %j", (raw, message) => {
    expect(() => parseCurationConfig(raw)).toThrow(CurationConfigError);
    expect(() => parseCurationConfig(raw)).toThrow(message);
  });
});

describe("worker pool", () => {
  test("an error inside a worker rejects that call with the worker's message", async () => {
    const pool = startFuzzyPool(1);
    try {
      await pool.call(0, { op: "load", base: 0, texts: ["abcdefgh"] });
      await expect(pool.call(0, { op: "verify", shingle: 5, pairs: Uint32Array.from([0, 7]), foreign: {} })).rejects.toThrow(
        WorkerFailedError,
      );
      await expect(pool.call(0, { op: "verify", shingle: 5, pairs: Uint32Array.from([0, 7]), foreign: {} })).rejects.toThrow(
        /text of document 7 was not sent/,
      );
      // the worker survives and answers the next request
      const ok = await pool.call<{ op: "verify"; sims: Float64Array }>(0, {
        op: "verify",
        shingle: 5,
        pairs: Uint32Array.from([0, 7]),
        foreign: { 7: "abcdefgh" },
      });
      expect([...ok.sims]).toEqual([1]);
    } finally {
      await pool.close();
    }
  });
});
