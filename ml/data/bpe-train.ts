// Byte-level BPE training: count pre-tokenized pieces, then repeatedly merge the most frequent adjacent
// token pair. Pair counts are updated incrementally (only words containing the merged pair are
// revisited) and the best pair comes from a lazy max-heap, so Brown (~6 MB) trains in seconds.
import { byteToChar } from "./byte-unicode.ts";
import { DataOptionError } from "./errors.ts";
import { PairHeap } from "./pair-heap.ts";
import { pretokenize } from "./pretokenize.ts";

/** Token ids stay below this, so a pair (a, b) is the exact integer key a·2^20 + b. */
export const MAX_VOCAB_SIZE = 1 << 20;
const PAIR_BASE = MAX_VOCAB_SIZE;

export interface BpeModel {
  /** Token strings in the byte-to-unicode alphabet, indexed by id (bytes first: id b is byte b). */
  tokens: string[];
  /** Merges in priority order: merging tokens[a] and tokens[b] gives tokens[result]. */
  merges: Array<[a: number, b: number]>;
}

export interface BpeTrainOptions {
  /** Size of the BPE vocabulary (256 byte tokens + merges), special tokens excluded. */
  vocabSize: number;
  /** Pairs seen fewer times than this are never merged (default 2). */
  minFrequency?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Counts of each distinct pre-tokenized piece over all texts. */
export function countPieces(texts: Iterable<string>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const text of texts) {
    for (const piece of pretokenize(text)) counts.set(piece, (counts.get(piece) ?? 0) + 1);
  }
  return counts;
}

/** Each distinct piece as its UTF-8 bytes (the initial token ids), with its count alongside. */
function wordsOf(pieceCounts: ReadonlyMap<string, number>): { words: number[][]; freqs: number[] } {
  const encoder = new TextEncoder();
  const words: number[][] = [];
  const freqs: number[] = [];
  for (const [piece, count] of pieceCounts) {
    words.push(Array.from(encoder.encode(piece)));
    freqs.push(count);
  }
  return { words, freqs };
}

/** Whether the adjacent pair (a, b) occurs in `word`. */
function hasPair(word: readonly number[], a: number, b: number): boolean {
  for (let i = 0; i + 1 < word.length; i++) if (word[i] === a && word[i + 1] === b) return true;
  return false;
}

/** `word` with each occurrence of the pair (a, b), scanned left to right without overlap, replaced by `id`. */
function mergePair(word: readonly number[], a: number, b: number, id: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < word.length; i++) {
    if (i + 1 < word.length && word[i] === a && word[i + 1] === b) {
      out.push(id);
      i++;
    } else out.push(word[i]!);
  }
  return out;
}

/** Trains byte-level BPE on piece counts (see countPieces) up to `vocabSize` tokens. */
export function trainBpe(pieceCounts: ReadonlyMap<string, number>, options: BpeTrainOptions): BpeModel {
  const { vocabSize, minFrequency = 2, onProgress } = options;
  if (!Number.isInteger(vocabSize) || vocabSize < 256 || vocabSize > MAX_VOCAB_SIZE) {
    throw new DataOptionError(`BPE vocabSize must be an integer in [256, ${MAX_VOCAB_SIZE}], got ${vocabSize}`);
  }
  const tokens = byteToChar.slice();
  const tokenIds = new Map(tokens.map((t, i) => [t, i]));
  const merges: Array<[number, number]> = [];

  const { words, freqs } = wordsOf(pieceCounts);

  const pairCounts = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const addPairs = (w: number, sign: 1 | -1, touched: Set<number> | null) => {
    const word = words[w]!;
    const f = freqs[w]! * sign;
    for (let i = 0; i + 1 < word.length; i++) {
      const key = word[i]! * PAIR_BASE + word[i + 1]!;
      pairCounts.set(key, (pairCounts.get(key) ?? 0) + f);
      if (sign > 0) {
        let set = pairWords.get(key);
        if (!set) pairWords.set(key, (set = new Set()));
        set.add(w);
      }
      touched?.add(key);
    }
  };
  for (let w = 0; w < words.length; w++) addPairs(w, 1, null);
  const heap = new PairHeap();
  for (const [key, count] of pairCounts) heap.push(count, key);

  const target = vocabSize - tokens.length;
  while (tokens.length < vocabSize) {
    const top = heap.pop();
    if (!top) break;
    if (pairCounts.get(top.key) !== top.count) continue; // stale entry
    if (top.count < minFrequency) break;
    const a = Math.floor(top.key / PAIR_BASE);
    const b = top.key % PAIR_BASE;
    const merged = tokens[a]! + tokens[b]!;
    // Two different pairs can spell the same string, e.g. (ab, c) and (a, bc): reuse the id.
    let id = tokenIds.get(merged);
    if (id === undefined) {
      id = tokens.length;
      tokens.push(merged);
      tokenIds.set(merged, id);
    }
    merges.push([a, b]);

    const touched = new Set<number>();
    for (const w of pairWords.get(top.key) ?? []) {
      const word = words[w]!;
      if (!hasPair(word, a, b)) continue;
      addPairs(w, -1, touched);
      words[w] = mergePair(word, a, b, id);
      addPairs(w, 1, touched);
    }
    pairWords.delete(top.key);
    for (const key of touched) {
      const count = pairCounts.get(key)!;
      if (count > 0) heap.push(count, key);
      else pairCounts.delete(key);
    }
    onProgress?.(merges.length, target);
  }
  return { tokens, merges };
}

/** Convenience for tests and small corpora: the pieces of `texts` trained in one call. */
export function trainBpeOnTexts(texts: Iterable<string>, options: BpeTrainOptions): BpeModel {
  return trainBpe(countPieces(texts), options);
}
