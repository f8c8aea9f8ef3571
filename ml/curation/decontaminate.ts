// Downstream-task decontamination as Megatron-LM's tools/openwebtext/filter_ngrams.py does it:
// - task n-grams: every 13-gram of a task text; a task text of 8–12 words counts as one n-gram;
// - task n-grams seen ≥ 10 times in the corpus are too common to mean contamination and are ignored;
// - each match is cut out with 200 characters on each side, the cut extended outward to the
//   nearest sentence punctuation (. ! ?); the text before the cut is final, the text after it is
//   scanned again;
// - fragments shorter than 200 characters are dropped, and a document that ends up in more than 10
//   fragments is dropped entirely (Megatron's max_splits test on the fragment count).
// Words are the /\w+/ matches of the lowercased text, with Python's Unicode meaning of \w (letters,
// digits, underscore), since filter_ngrams.py runs on Python 3 strings.
import type { CurationDoc, ProgressFn, StageReport } from "./types.ts";
import { StageTally } from "./stage-tally.ts";
import { hashString } from "./hash.ts";
import { utf8Bytes } from "./text-util.ts";

export interface DecontaminationConfig {
  /** Longest n-gram (13). */
  ngram: number;
  /** A task text with at least this many words (8) but fewer than `ngram` is one n-gram. */
  minNgram: number;
  /** Task n-grams occurring this often (10) in the corpus are ignored. */
  maxFrequency: number;
  /** Characters removed on each side of a match before extending to punctuation (200). */
  removeChars: number;
  /** Fragments shorter than this (200 characters) are dropped. */
  minFragment: number;
  /** A document left in more fragments than this (10) is dropped. */
  maxSplits: number;
}

export const MEGATRON_DECONTAMINATION: DecontaminationConfig = {
  ngram: 13,
  minNgram: 8,
  maxFrequency: 10,
  removeChars: 200,
  minFragment: 200,
  maxSplits: 10,
};

export interface Words {
  words: string[];
  starts: number[];
  ends: number[];
}

const WORD = /[\p{L}\p{N}_]+/gu;

export function getWords(text: string): Words {
  const words: string[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  // Lowercasing can change string length for a few characters; match on the lowercased text as
  // Megatron does, and map positions back only when lengths agree.
  const lower = text.toLowerCase();
  const sameLength = lower.length === text.length;
  for (const m of (sameLength ? lower : text).matchAll(WORD)) {
    words.push(sameLength ? m[0] : m[0].toLowerCase());
    starts.push(m.index);
    ends.push(m.index + m[0].length);
  }
  return { words, starts, ends };
}

const P = 0x01000193;

/** Polynomial hashes of every window of `len` word hashes: out[i] covers words i..i+len-1. */
function windowHashes(wordHash: Uint32Array, len: number): Uint32Array {
  const n = wordHash.length - len + 1;
  if (n <= 0) return new Uint32Array(0);
  const out = new Uint32Array(n);
  let pow = 1;
  for (let k = 0; k < len - 1; k++) pow = Math.imul(pow, P);
  let h = 0;
  for (let k = 0; k < len; k++) h = (Math.imul(h, P) + wordHash[k]!) | 0;
  out[0] = h >>> 0;
  for (let i = 1; i < n; i++) {
    h = (h - Math.imul(wordHash[i - 1]!, pow)) | 0;
    h = (Math.imul(h, P) + wordHash[i + len - 1]!) | 0;
    out[i] = h >>> 0;
  }
  return out;
}

function hashWords(words: readonly string[]): Uint32Array {
  return Uint32Array.from(words, (w) => hashString(w));
}

/** The task n-grams, grouped by length (longest first), with hashes for a cheap first test. */
export class TaskNgrams {
  readonly byLength = new Map<number, Set<string>>();
  private readonly hashes = new Map<number, Set<number>>();

  static fromTaskTexts(texts: readonly string[], config: DecontaminationConfig): TaskNgrams {
    const t = new TaskNgrams();
    for (const text of texts) {
      const { words } = getWords(text);
      if (words.length >= config.ngram) {
        for (let i = 0; i + config.ngram <= words.length; i++) t.add(words.slice(i, i + config.ngram));
      } else if (words.length >= config.minNgram) {
        t.add(words);
      }
    }
    return t;
  }

  add(words: readonly string[]): void {
    const len = words.length;
    if (!this.byLength.has(len)) {
      this.byLength.set(len, new Set());
      this.hashes.set(len, new Set());
    }
    this.byLength.get(len)!.add(words.join(" "));
    this.hashes.get(len)!.add(windowHashes(hashWords(words), len)[0]!);
  }

  delete(ngram: string): void {
    this.byLength.get(ngram.split(" ").length)?.delete(ngram);
  }

  get size(): number {
    let n = 0;
    for (const s of this.byLength.values()) n += s.size;
    return n;
  }

  /** Lengths present, longest first (the order a position is tested in). */
  lengths(): number[] {
    return [...this.byLength.keys()].filter((l) => this.byLength.get(l)!.size > 0).sort((a, b) => b - a);
  }

  /** Every match in word order: (first word index, length, n-gram). */
  *matches(w: Words): Generator<{ at: number; len: number; ngram: string }> {
    const wordHash = hashWords(w.words);
    const lengths = this.lengths();
    const windows = lengths.map((len) => windowHashes(wordHash, len));
    for (let i = 0; i < w.words.length; i++) {
      for (let li = 0; li < lengths.length; li++) {
        const len = lengths[li]!;
        const win = windows[li]!;
        if (i >= win.length || !this.hashes.get(len)!.has(win[i]!)) continue;
        const ngram = w.words.slice(i, i + len).join(" ");
        if (this.byLength.get(len)!.has(ngram)) yield { at: i, len, ngram };
      }
    }
  }
}

/** How often each task n-gram occurs across the corpus (every position counts). */
function ngramFrequencies(texts: Iterable<string>, ngrams: TaskNgrams): Map<string, number> {
  const freq = new Map<string, number>();
  for (const text of texts) for (const m of ngrams.matches(getWords(text))) freq.set(m.ngram, (freq.get(m.ngram) ?? 0) + 1);
  return freq;
}

const PUNCTUATION = new Set([".", "!", "?"]);

/**
 * Cuts text[start, end) with `removeChars` more on each side, widened to sentence punctuation.
 * Returns the text before the cut (ending with its punctuation) and the text after it.
 */
export function splitAround(text: string, start: number, end: number, removeChars: number): [string, string] {
  let pos = start - removeChars;
  while (pos > 0 && !PUNCTUATION.has(text[pos]!)) pos -= 1;
  const first = pos > 0 ? text.slice(0, pos + 1) : "";
  pos = end + removeChars;
  while (pos < text.length && !PUNCTUATION.has(text[pos]!)) pos += 1;
  const second = pos + 1 < text.length ? text.slice(pos + 1) : "";
  return [first.trim(), second.trim()];
}

/** The n-gram-free fragments of one text, and the n-grams that were cut out. */
export function decontaminateText(
  text: string,
  ngrams: TaskNgrams,
  config: DecontaminationConfig,
): { fragments: string[]; matched: string[] } {
  const fragments: string[] = [];
  const matched: string[] = [];
  let rest: string | undefined = text;
  while (rest !== undefined) {
    const words = getWords(rest);
    const first = ngrams.matches(words).next();
    if (first.done) {
      fragments.push(rest);
      break;
    }
    const { at, len, ngram } = first.value;
    matched.push(ngram);
    const [before, after] = splitAround(rest, words.starts[at]!, words.ends[at + len - 1]!, config.removeChars);
    if (before.length >= config.minFragment) fragments.push(before);
    rest = after.length >= config.minFragment ? after : undefined;
  }
  return { fragments, matched };
}

export function decontaminate(
  docs: readonly CurationDoc[],
  taskTexts: readonly string[],
  config: DecontaminationConfig,
  onProgress?: ProgressFn,
): { docs: CurationDoc[]; report: StageReport } {
  const tally = new StageTally("decontamination", docs);
  const ngrams = TaskNgrams.fromTaskTexts(taskTexts, config);
  const taskNgrams = ngrams.size;
  const freq = ngramFrequencies(
    docs.map((d) => d.text),
    ngrams,
  );
  const tooCommon = [...freq].filter(([, n]) => n >= config.maxFrequency).sort((a, b) => b[1] - a[1]);
  for (const [g] of tooCommon) ngrams.delete(g);

  const out: CurationDoc[] = [];
  const hits = new Map<string, number>();
  let splitDocs = 0;
  for (const [i, doc] of docs.entries()) {
    if (onProgress && (i % 50 === 0 || i === docs.length - 1)) onProgress("decontamination", i + 1, docs.length);
    const { fragments, matched } = decontaminateText(doc.text, ngrams, config);
    if (matched.length === 0) {
      out.push(doc);
      continue;
    }
    for (const g of matched) hits.set(g, (hits.get(g) ?? 0) + 1);
    const note = `matched "${matched[0]}"${matched.length > 1 ? ` and ${matched.length - 1} more` : ""}`;
    if (fragments.length > config.maxSplits) {
      tally.remove(doc, `split into more than ${config.maxSplits} fragments`, { note: `${fragments.length} fragments; ${note}` });
      continue;
    }
    if (fragments.length === 0) {
      tally.remove(doc, `no fragment of ≥ ${config.minFragment} characters left`, { note });
      continue;
    }
    splitDocs += 1;
    const keptBytes = fragments.reduce((s, f) => s + utf8Bytes(f), 0);
    tally.remove(doc, `task n-gram cut out with ${config.removeChars} characters each side`, {
      bytes: utf8Bytes(doc.text) - keptBytes,
      note: `${fragments.length} fragment(s); ${note}`,
    });
    fragments.forEach((text, k) => out.push({ ...doc, id: `${doc.id}#${k}`, text }));
  }
  Object.assign(tally.details, {
    taskTexts: taskTexts.length,
    taskNgrams,
    ignoredTooCommon: tooCommon.length,
    tooCommonExamples: tooCommon.slice(0, 3).map(([g, n]) => ({ ngram: g, count: n })),
    splitDocs,
    mostMatched: [...hits]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 5)
      .map(([g, n]) => ({ ngram: g, docs: n })),
  });
  return { docs: out, report: tally.finish(out) };
}
