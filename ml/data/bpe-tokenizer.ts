// Byte-level BPE encoder/decoder over a trained model, plus special tokens (end-of-text). Encoding
// matches Hugging Face's BPE model with the ByteLevel pre-tokenizer: split on special tokens, then on
// the GPT-2 regex, map each piece's UTF-8 bytes to characters, and apply merges lowest rank first.
import { byteToChar, charToByte } from "./byte-unicode.ts";
import { MAX_VOCAB_SIZE, type BpeModel } from "./bpe-train.ts";
import { DataOptionError } from "./errors.ts";
import { pretokenize } from "./pretokenize.ts";
import { tokenizerToJson } from "./tokenizer-json.ts";
import type { Tokenizer } from "./types.ts";

export const END_OF_TEXT = "<|endoftext|>";
const PAIR_BASE = MAX_VOCAB_SIZE;

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

export class BpeTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly eotId: number;
  readonly eotToken: string;
  /** Token strings by id: byte-level tokens, then special tokens (stored literally). */
  readonly tokens: readonly string[];
  readonly merges: ReadonlyArray<readonly [number, number]>;
  readonly specialTokens: ReadonlyMap<string, number>;
  /** Pair key a·2^20 + b → rank·2^20 + result id, so a smaller value is a higher-priority merge. */
  private readonly mergeRanks = new Map<number, number>();
  /** Token id of each single byte (files from other tools need not put byte b at id b). */
  private readonly byteIds = new Int32Array(256);
  private readonly specialSplit: RegExp;
  private readonly pieceCache = new Map<string, number[]>();
  private readonly encoder = new TextEncoder();

  /** `special` lists special tokens by id; the first is the end-of-text token. */
  constructor(model: BpeModel, special: ReadonlyArray<{ content: string; id: number }>) {
    const tokens = model.tokens.slice();
    const ids = new Map<string, number>();
    tokens.forEach((t, i) => ids.set(t, i)); // forEach skips the holes that special tokens fill below
    for (let b = 0; b < 256; b++) {
      const id = ids.get(byteToChar[b]!);
      if (id === undefined) throw new DataOptionError(`vocabulary lacks the byte-level token for byte ${b} ("${byteToChar[b]}")`);
      this.byteIds[b] = id;
    }
    model.merges.forEach(([a, b], rank) => {
      const result = ids.get(tokens[a]! + tokens[b]!);
      if (result === undefined) throw new DataOptionError(`BPE merge ${rank} (${tokens[a]} ${tokens[b]}) has no vocabulary entry`);
      const key = a * PAIR_BASE + b;
      if (!this.mergeRanks.has(key)) this.mergeRanks.set(key, rank * PAIR_BASE + result);
    });
    if (special.length === 0) throw new DataOptionError("a tokenizer needs at least the end-of-text special token");
    const specialTokens = new Map<string, number>();
    for (const { content, id } of special) {
      if (tokens[id] !== undefined && tokens[id] !== content) {
        throw new DataOptionError(`special token "${content}" id ${id} is already taken by "${tokens[id]}"`);
      }
      tokens[id] = content;
      specialTokens.set(content, id);
    }
    for (let i = 0; i < tokens.length; i++) {
      if (tokens[i] === undefined) throw new DataOptionError(`vocabulary has no token with id ${i}`);
    }
    this.tokens = tokens;
    this.merges = model.merges;
    this.specialTokens = specialTokens;
    this.vocabSize = tokens.length;
    this.eotToken = special[0]!.content;
    this.eotId = special[0]!.id;
    // Longest first so a special token that contains another wins, as in Hugging Face.
    const alternatives = [...specialTokens.keys()].sort((x, y) => y.length - x.length).map(escapeRegExp);
    this.specialSplit = new RegExp(`(${alternatives.join("|")})`, "u");
  }

  /** A tokenizer with the end-of-text token appended after the BPE vocabulary. */
  static fromModel(model: BpeModel, eotToken = END_OF_TEXT): BpeTokenizer {
    return new BpeTokenizer(model, [{ content: eotToken, id: model.tokens.length }]);
  }

  encode(text: string): number[] {
    const out: number[] = [];
    const parts = text.split(this.specialSplit);
    for (let p = 0; p < parts.length; p++) {
      const part = parts[p]!;
      // split() with a capture group puts the separators at odd positions.
      if (p % 2 === 1) out.push(this.specialTokens.get(part)!);
      else for (const piece of pretokenize(part)) for (const id of this.encodePiece(piece)) out.push(id);
    }
    return out;
  }

  /** Encodes text containing no special tokens (literal "<|endoftext|>" is encoded as ordinary text). */
  encodeOrdinary(text: string): number[] {
    const out: number[] = [];
    for (const piece of pretokenize(text)) for (const id of this.encodePiece(piece)) out.push(id);
    return out;
  }

  decode(ids: ArrayLike<number>): string {
    const bytes: number[] = [];
    let text = "";
    const flush = () => {
      if (bytes.length) text += new TextDecoder().decode(Uint8Array.from(bytes));
      bytes.length = 0;
    };
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const token = this.tokens[id];
      if (token === undefined) throw new DataOptionError(`token id ${id} is outside the vocabulary (size ${this.vocabSize})`);
      if (this.specialTokens.has(token) && this.specialTokens.get(token) === id) {
        flush();
        text += token;
        continue;
      }
      for (const ch of token) {
        const b = charToByte(ch);
        if (b === undefined) throw new DataOptionError(`token ${id} ("${token}") has a character outside the byte-level alphabet`);
        bytes.push(b);
      }
    }
    flush();
    return text;
  }

  toJSON(): object {
    return tokenizerToJson(this);
  }

  private encodePiece(piece: string): number[] {
    const cached = this.pieceCache.get(piece);
    if (cached) return cached;
    let word: number[] = Array.from(this.encoder.encode(piece), (b) => this.byteIds[b]!);
    while (word.length > 1) {
      let bestRank = Infinity;
      let bestResult = -1;
      let bestA = -1;
      let bestB = -1;
      for (let i = 0; i + 1 < word.length; i++) {
        const packed = this.mergeRanks.get(word[i]! * PAIR_BASE + word[i + 1]!);
        if (packed !== undefined && packed < bestRank) {
          bestRank = packed;
          bestResult = packed % PAIR_BASE;
          bestA = word[i]!;
          bestB = word[i + 1]!;
        }
      }
      if (bestResult < 0) break;
      const next: number[] = [];
      for (let i = 0; i < word.length; i++) {
        if (i + 1 < word.length && word[i] === bestA && word[i + 1] === bestB) {
          next.push(bestResult);
          i++;
        } else next.push(word[i]!);
      }
      word = next;
    }
    if (this.pieceCache.size < 1 << 20) this.pieceCache.set(piece, word);
    return word;
  }
}
