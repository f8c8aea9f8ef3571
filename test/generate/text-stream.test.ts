import { describe, expect, it } from "vitest";
import { ByteTokenizer } from "../../ml/eval/byte-tokenizer.ts";
import { TextStream } from "../../ml/generate/text-stream.ts";

describe("streaming text", () => {
  it("holds back a character split across tokens until it is whole", () => {
    const tok = new ByteTokenizer();
    const stream = new TextStream(tok);
    const text = "né ✓!";
    const pieces = Array.from(tok.encode(text)).map((id) => stream.push(id));
    expect(pieces.join("")).toBe(text);
    // "é" is two bytes and "✓" three: the first byte(s) of each yield nothing
    expect(pieces).toEqual(["n", "", "é", " ", "", "", "✓", "!"]);
    expect(stream.flush()).toBe("");
  });

  it("flushes an incomplete character at the end", () => {
    const tok = new ByteTokenizer();
    const stream = new TextStream(tok);
    expect(stream.push(0xe2)).toBe("");
    expect(stream.flush()).toBe("\uFFFD");
  });
});
