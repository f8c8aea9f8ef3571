// GPT-2's reversible byte ↔ printable-character mapping, used by byte-level BPE (and by Hugging Face's
// ByteLevel pre-tokenizer/decoder): printable Latin-1 bytes map to themselves, the other 68 bytes to
// U+0100 onwards in byte order, so every token is a printable string without spaces.

function buildByteToChar(): string[] {
  const keep = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const chars: string[] = new Array(256);
  let next = 0;
  for (let b = 0; b < 256; b++) chars[b] = String.fromCodePoint(keep(b) ? b : 256 + next++);
  return chars;
}

/** byteToChar[b] is the character standing for byte b; e.g. byteToChar[0x20] === "Ġ", byteToChar[0x0a] === "Ċ". */
export const byteToChar: readonly string[] = Object.freeze(buildByteToChar());

const charToByteMap: ReadonlyMap<string, number> = new Map(byteToChar.map((c, b) => [c, b]));

/** Byte of a mapped character, or undefined when `ch` is not one of the 256 characters. */
export function charToByte(ch: string): number | undefined {
  return charToByteMap.get(ch);
}
