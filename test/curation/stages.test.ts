import { describe, expect, test } from "vitest";
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { cleanText, cleanup } from "../../ml/curation/cleanup.ts";
import { exactDedup } from "../../ml/curation/exact-dedup.ts";
import { blend, blendEpochs } from "../../ml/curation/blend.ts";
import { loadSource } from "../../ml/curation/sources.ts";
import { SourceError } from "../../ml/curation/errors.ts";
import { loadTaskTexts } from "../../ml/curation/task-texts.ts";
import type { CurationDoc } from "../../ml/curation/types.ts";

const doc = (id: string, text: string, dataset = "d", priority = 0): CurationDoc => ({ id, dataset, priority, text });

describe("cleanup", () => {
  test("normalises, strips controls, unifies line ends, trims", () => {
    expect(cleanText("e\u0301t\u00e9", "NFC")).toBe("\u00e9t\u00e9");
    expect(cleanText("\ufb01ne \uff21", "NFKC")).toBe("fine A"); // ligature and full-width fold
    expect(cleanText("\ufb01ne", "NFC")).toBe("\ufb01ne");
    expect(cleanText("  a\u0000b\u200bc\r\nd\u0007\te  \n\n\n\nf ", "none")).toBe("abc\nd\te\n\nf");
  });

  test("drops short documents and reports removed bytes", () => {
    const docs = [doc("a", "x".repeat(50)), doc("b", `${"y".repeat(300)}\u0000\u0000`), doc("c", "z".repeat(300))];
    const { docs: out, report } = cleanup(docs, { normalize: "NFC", minChars: 200 });
    expect(out.map((d) => d.id)).toEqual(["b", "c"]);
    expect(out[0]!.text).toBe("y".repeat(300));
    expect(out[1]).toBe(docs[2]); // untouched documents pass through as they are
    expect(report.removed.map((r) => [r.docs, r.bytes])).toEqual([
      [1, 50],
      [0, 2],
    ]);
    expect(report.bytesIn - report.bytesOut).toBe(52);
  });
});

describe("exact dedup", () => {
  test("keeps one copy per content hash, from the highest-priority dataset", () => {
    const docs = [
      doc("low/1", "same text", "low", 0),
      doc("x/1", "other", "x", 0),
      doc("high/1", "same text", "high", 5),
      doc("mid/1", "same text", "mid", 1),
    ];
    const { docs: out, report } = exactDedup(docs);
    expect(out.map((d) => d.id)).toEqual(["x/1", "high/1"]);
    expect(report.removed[0]!.docs).toBe(2);
    expect(report.removed[0]!.examples.map((e) => e.note)).toEqual(["kept high/1", "kept high/1"]);
  });
});

describe("blend", () => {
  const docs = [
    ...Array.from({ length: 4 }, (_, i) => doc(`a/${i}`, "a".repeat(100), "a")),
    ...Array.from({ length: 10 }, (_, i) => doc(`b/${i}`, "b".repeat(100), "b")),
  ];

  test("epochs: 2.5 passes over a, half of b, shuffled by seed", () => {
    const { docs: out, report } = blend(docs, { mode: "epochs", weights: { a: 2.5, b: 0.5 }, seed: 3 });
    expect(out.filter((d) => d.dataset === "a").length).toBe(10);
    expect(out.filter((d) => d.dataset === "b").length).toBe(5);
    expect(report.removed[0]!.docs).toBe(5);
    const again = blend(docs, { mode: "epochs", weights: { a: 2.5, b: 0.5 }, seed: 3 }).docs;
    expect(again.map((d) => d.id)).toEqual(out.map((d) => d.id));
    const other = blend(docs, { mode: "epochs", weights: { a: 2.5, b: 0.5 }, seed: 4 }).docs;
    expect(other.map((d) => d.id)).not.toEqual(out.map((d) => d.id));
  });

  test("fractions: shares of the output bytes become epochs", () => {
    const bytes = new Map([
      ["a", 400],
      ["b", 1000],
    ]);
    const e = blendEpochs(bytes, { mode: "fractions", weights: { a: 0.5, b: 0.5 }, seed: 1, totalBytes: 2000 });
    expect(e.get("a")).toBeCloseTo(2.5, 12);
    expect(e.get("b")).toBeCloseTo(1, 12);
    expect(() => blendEpochs(bytes, { mode: "fractions", weights: { a: 0.5, b: 0.2 }, seed: 1 })).toThrow(/sum to 1/);
  });
});

describe("sources", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "troupe-sources-"));
  mkdirSync(path.join(dir, "docs", "sub"), { recursive: true });
  writeFileSync(path.join(dir, "docs", "b.txt"), "second");
  writeFileSync(path.join(dir, "docs", "sub", "a.txt"), "nested");
  writeFileSync(path.join(dir, "docs", "a.md"), "first");
  writeFileSync(path.join(dir, "plain.txt"), "para one\nstill one\n\n\npara two\n");
  writeFileSync(path.join(dir, "x.jsonl"), '{"text":"j1"}\n\n{"text":"j2","other":1}\n');
  writeFileSync(path.join(dir, "bad.jsonl"), '{"body":"no text"}\n');
  writeFileSync(
    path.join(dir, "tasks.jsonl"),
    [
      '{"split":"test","context":"He opened the","target":"door"}',
      '{"split":"train","context":"skip me","target":"x"}',
      '{"split":"validation","context":"The sky is","choices":["blue.","loud."],"label":0}',
    ].join("\n"),
  );

  test("folders (one document per file, sorted, recursive), text paragraphs, JSONL", () => {
    expect(loadSource({ folder: "docs" }, dir)).toEqual([
      { id: "a.md", text: "first" },
      { id: "b.txt", text: "second" },
      { id: path.join("sub", "a.txt"), text: "nested" },
    ]);
    expect(loadSource({ folder: "docs", extensions: [".txt"] }, dir).length).toBe(2);
    expect(loadSource({ text: "plain.txt" }, dir).map((d) => d.text)).toEqual(["para one\nstill one", "para two\n"]);
    expect(loadSource({ text: "plain.txt", split: "file" }, dir).length).toBe(1);
    expect(loadSource({ jsonl: "x.jsonl" }, dir).map((d) => d.text)).toEqual(["j1", "j2"]);
  });

  test("bad input names the problem", () => {
    expect(() => loadSource({ jsonl: "bad.jsonl" }, dir)).toThrow(/bad.jsonl:1: field "text" is missing/);
    expect(() => loadSource({ folder: "nope" }, dir)).toThrow(SourceError);
    expect(() => loadSource({ brown: "poetry" }, dir)).toThrow(/unknown Brown genre "poetry"/);
  });

  test("Brown genres come back as plain text", () => {
    const news = loadSource({ brown: "news" }, dir);
    expect(news.length).toBe(44);
    expect(news[0]!.text.startsWith("The Fulton County Grand Jury said Friday")).toBe(true);
  });

  test("task texts: test and validation examples with their answers", () => {
    const [f] = loadTaskTexts({ path: "tasks.jsonl" }, dir);
    expect(f!.texts).toEqual(["He opened the door", "The sky is blue."]);
  });
});

describe("blend edge cases", () => {
  test("a dataset emptied by earlier stages but given a fraction is an error; with epochs it is listed empty", () => {
    const docs = [doc("a/1", "a".repeat(10), "a")];
    expect(() => blend(docs, { mode: "fractions", weights: { a: 0.5, gone: 0.5 }, seed: 1 })).toThrow(
      /dataset "gone" has fraction 0.5 but no documents left/,
    );
    const { report } = blend(docs, { mode: "epochs", weights: { a: 1, gone: 2 }, seed: 1 });
    expect(report.details.datasets).toContainEqual(expect.objectContaining({ dataset: "gone", docs: 0, outDocs: 0 }));
  });
});
