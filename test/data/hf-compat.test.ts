// Our tokenizer.json loaded by Hugging Face's own tokenizers library encodes and decodes exactly as we do.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { byteLevelPreTokenizer, Tokenizer as HfTokenizer } from "tokenizers";
import { afterAll, describe, expect, it } from "vitest";
import {
  BpeTokenizer,
  byteToChar,
  loadBrownCorpus,
  loadTokenizer,
  pretokenize,
  saveTokenizer,
  trainBpeOnTexts,
} from "../../ml/data/mod.ts";

const dir = mkdtempSync(path.join(tmpdir(), "troupe-hf-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("Hugging Face ByteLevel pre-tokenizer", () => {
  it("splits like ours around every character of the first planes (Unicode whitespace included)", () => {
    const pre = byteLevelPreTokenizer(false, true);
    const encoder = new TextEncoder();
    const mapped = (s: string) => Array.from(encoder.encode(s), (b) => byteToChar[b]).join("");
    // Letters assigned in Unicode 16/17 are left out: Node 20 knows them, the Rust library does not yet.
    const newerUnicode = new Set([0x88f, 0xc5c, 0xcdc]);
    const codePoints = [...Array.from({ length: 0x2fff }, (_, i) => i), 0x3000, 0xfeff, 0xff21, 0x1f600];
    const differing: string[] = [];
    for (const cp of codePoints) {
      if (newerUnicode.has(cp)) continue;
      const c = String.fromCodePoint(cp);
      const text = `a${c}${c} b ${c}x1${c} 7 ${c}'s`;
      const ours = pretokenize(text).map(mapped);
      const theirs = pre.preTokenizeString(text).map(([piece]) => piece);
      if (ours.join("|") !== theirs.join("|")) differing.push(cp.toString(16));
    }
    expect(differing).toEqual([]);
  });
});

describe("Hugging Face tokenizers compatibility", () => {
  const docs = loadBrownCorpus();
  const tokenizer = BpeTokenizer.fromModel(
    trainBpeOnTexts(
      docs.slice(0, 80).map((d) => d.text),
      { vocabSize: 1200 },
    ),
  );
  const file = path.join(dir, "tokenizer.json");
  saveTokenizer(tokenizer, file);
  const hf = HfTokenizer.fromFile(file);

  const samples = [
    ...docs.filter((_, i) => i % 50 === 7).map((d) => d.text),
    "héllo wörld 日本語 🎉 x  \n\n  y\t's 'S 123,456 don't we'll",
    "next\u0085line, zero\ufeffwidth \u3000ideographic\u00a0space",
    "  leading spaces, trailing spaces   ",
    "one<|endoftext|>two <|endoftext|><|endoftext|> three",
    "",
  ];

  it("has the same vocabulary size and end-of-text id", () => {
    expect(hf.getVocabSize(true)).toBe(tokenizer.vocabSize);
    expect(hf.tokenToId("<|endoftext|>")).toBe(tokenizer.eotId);
  });

  it("encodes every sample to the same ids", async () => {
    for (const text of samples) {
      const ours = tokenizer.encode(text);
      const theirs = (await hf.encode(text, null, { addSpecialTokens: false })).getIds();
      expect(ours).toEqual(theirs);
    }
  });

  it("decodes our ids to the original text", async () => {
    for (const text of samples) {
      expect(await hf.decode(tokenizer.encode(text), false)).toBe(text);
    }
  });

  it("loads the file as Hugging Face re-saves it and encodes identically", () => {
    const resaved = path.join(dir, "resaved.json");
    hf.save(resaved, true);
    const again = loadTokenizer(resaved);
    for (const text of samples) expect(again.encode(text)).toEqual(tokenizer.encode(text));
  });

  it("reloads to an identical tokenizer", () => {
    const again = loadTokenizer(file);
    for (const text of samples) expect(again.encode(text)).toEqual(tokenizer.encode(text));
  });
});
