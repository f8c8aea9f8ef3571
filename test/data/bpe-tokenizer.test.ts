import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  BpeTokenizer,
  byteToChar,
  DataFileError,
  loadBrownCorpus,
  loadTokenizer,
  pretokenize,
  trainBpeOnTexts,
} from "../../ml/data/mod.ts";

/** Textbook BPE: recount all pairs after every merge; most frequent pair wins, ties to the smaller (a, b). */
function naiveBpeMerges(texts: string[], vocabSize: number): Array<[number, number]> {
  const enc = new TextEncoder();
  let words = texts.flatMap((t) => pretokenize(t)).map((p) => Array.from(enc.encode(p)));
  const tokens = byteToChar.slice();
  const merges: Array<[number, number]> = [];
  while (tokens.length < vocabSize) {
    const counts = new Map<string, number>();
    for (const w of words)
      for (let i = 0; i + 1 < w.length; i++) counts.set(`${w[i]},${w[i + 1]}`, (counts.get(`${w[i]},${w[i + 1]}`) ?? 0) + 1);
    let best: [number, number] | null = null;
    let bestCount = 1;
    for (const [key, count] of counts) {
      const [a, b] = key.split(",").map(Number) as [number, number];
      if (count > bestCount || (count === bestCount && best && (a < best[0] || (a === best[0] && b < best[1])))) {
        best = [a, b];
        bestCount = count;
      }
    }
    if (!best) break;
    const merged = tokens[best[0]]! + tokens[best[1]]!;
    let id = tokens.indexOf(merged);
    if (id < 0) id = tokens.push(merged) - 1;
    merges.push(best);
    words = words.map((w) => {
      const out: number[] = [];
      for (let i = 0; i < w.length; i++) {
        if (i + 1 < w.length && w[i] === best[0] && w[i + 1] === best[1]) {
          out.push(id);
          i++;
        } else out.push(w[i]!);
      }
      return out;
    });
  }
  return merges;
}

const text = "the cat sat on the mat. the cat ate the rat! the end, the end.\nthe theme";

describe("byte-level alphabet and pre-tokenizer", () => {
  it("maps bytes like GPT-2: printable bytes to themselves, space to Ġ, newline to Ċ", () => {
    expect(byteToChar[0x41]).toBe("A");
    expect(byteToChar[0x20]).toBe("Ġ");
    expect(byteToChar[0x0a]).toBe("Ċ");
    expect(new Set(byteToChar).size).toBe(256);
  });

  it("splits like the GPT-2 regex", () => {
    expect(pretokenize("Hello world, it's  2024!\n")).toEqual(["Hello", " world", ",", " it", "'s", " ", " 2024", "!", "\n"]);
  });
});

describe("BPE training", () => {
  const model = trainBpeOnTexts([text], { vocabSize: 270, minFrequency: 1 });
  const tokenizer = BpeTokenizer.fromModel(model);

  it("grows the vocabulary to the requested size and appends end-of-text", () => {
    expect(model.tokens).toHaveLength(270);
    expect(tokenizer.vocabSize).toBe(271);
    expect(tokenizer.eotId).toBe(270);
  });

  it("learns the same merges as a naive reference trainer that recounts every pair each step", () => {
    const texts = loadBrownCorpus()
      .slice(0, 3)
      .map((d) => d.text);
    const fast = trainBpeOnTexts(texts, { vocabSize: 400 });
    expect(fast.merges).toEqual(naiveBpeMerges(texts, 400));
  });

  it("encodes frequent words to single tokens", () => {
    expect(tokenizer.encode(" the")).toHaveLength(1);
    expect(tokenizer.decode(tokenizer.encode(" the"))).toBe(" the");
  });

  it("round-trips any string exactly, including unseen scripts, emoji and control characters", () => {
    const strings = [text, "", " ", "日本語のテキスト", "🎉👩‍👩‍👧 \u0000\u0007\t\r\n", "ÀÉÎõü ß", "a<|endoftext|>b"];
    let seed = 1;
    for (let n = 0; n < 50; n++) {
      let s = "";
      for (let i = 0; i < 30; i++) {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        const cp = seed % 5 === 0 ? 0x1f300 + (seed % 500) : seed % 0x3000;
        if (cp < 0xd800 || cp > 0xdfff) s += String.fromCodePoint(cp);
      }
      strings.push(s);
    }
    for (const s of strings) expect(tokenizer.decode(tokenizer.encode(s))).toBe(s);
  });

  it("turns the literal end-of-text string into its special id", () => {
    const ids = tokenizer.encode("a<|endoftext|>b");
    expect(ids).toContain(tokenizer.eotId);
    expect(tokenizer.encodeOrdinary("a<|endoftext|>b")).not.toContain(tokenizer.eotId);
  });

  it("is deterministic", () => {
    expect(trainBpeOnTexts([text], { vocabSize: 270, minFrequency: 1 })).toEqual(model);
  });

  it("rejects a vocabulary below 256 and ids outside the vocabulary", () => {
    expect(() => trainBpeOnTexts([text], { vocabSize: 100 })).toThrow(/vocabSize/);
    expect(() => tokenizer.decode([5000])).toThrow(/outside the vocabulary/);
  });
});

describe("tokenizer.json files", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "troupe-tokjson-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const tokenizer = BpeTokenizer.fromModel(trainBpeOnTexts([text], { vocabSize: 270, minFrequency: 1 }));

  it("writes the Hugging Face layout: BPE model, ByteLevel pre-tokenizer and decoder, special end-of-text", () => {
    const json = tokenizer.toJSON() as any;
    expect(json.model.type).toBe("BPE");
    expect(json.pre_tokenizer.type).toBe("ByteLevel");
    expect(json.decoder.type).toBe("ByteLevel");
    expect(json.model.vocab["Ġ"]).toBe(32);
    expect(json.model.merges).toHaveLength(14);
    expect(json.added_tokens).toEqual([expect.objectContaining({ id: 270, content: "<|endoftext|>", special: true })]);
  });

  it("refuses malformed files with an error naming the file and the field", () => {
    const good = tokenizer.toJSON() as any;
    const cases: Array<[unknown, RegExp]> = [
      [{ ...good, model: { ...good.model, type: "WordPiece" } }, /model\.type must be "BPE"/],
      [{ ...good, pre_tokenizer: { type: "Whitespace" } }, /pre_tokenizer must be ByteLevel/],
      [{ ...good, model: { ...good.model, merges: ["Ġ zz"] } }, /merges\[0\] uses a token not in model\.vocab/],
    ];
    for (const [doc, message] of cases) {
      const file = path.join(dir, "bad.json");
      writeFileSync(file, JSON.stringify(doc));
      expect(() => loadTokenizer(file)).toThrow(DataFileError);
      expect(() => loadTokenizer(file)).toThrow(message);
      expect(() => loadTokenizer(file)).toThrow(file);
    }
    const truncated = path.join(dir, "truncated.json");
    writeFileSync(truncated, JSON.stringify(good).slice(0, 100));
    expect(() => loadTokenizer(truncated)).toThrow(/truncated\.json: cannot read tokenizer JSON/);
  });
});
