// Interfaces of the data part: corpus documents, tokenizer, indexed datasets, batches, prepared data.

/** One document of a corpus. `genre` groups documents for the held-out split. */
export interface CorpusDocument {
  id: string;
  genre: string;
  text: string;
}

/** Byte-level BPE tokenizer: encode/decode are exact inverses on well-formed Unicode strings. */
export interface Tokenizer {
  readonly vocabSize: number;
  /** Id of the end-of-text special token that separates packed documents. */
  readonly eotId: number;
  readonly eotToken: string;
  /** Special tokens written literally in `text` (e.g. "<|endoftext|>") become their ids, as in Hugging Face. */
  encode(text: string): number[];
  /** Like encode, but a literal "<|endoftext|>" in `text` is ordinary text (how documents are tokenized). */
  encodeOrdinary(text: string): number[];
  decode(ids: ArrayLike<number>): string;
  /** The Hugging Face `tokenizer.json` document. */
  toJSON(): object;
}

export type TokenDtype = "uint16" | "uint32";

/** A read-only tokenized dataset: documents stored back to back (each ending with end-of-text). */
export interface IndexedDataset {
  readonly binPath: string;
  readonly idxPath: string;
  readonly dtype: TokenDtype;
  readonly documentCount: number;
  readonly tokenCount: number;
  /** All tokens, memory-mapped. */
  readonly tokens: Uint16Array | Uint32Array;
  /** Token range [start, end) of document `i`. */
  documentRange(i: number): [number, number];
  document(i: number): Uint16Array | Uint32Array;
}

export interface Batch {
  /** count × seqLen token ids, row-major. */
  inputs: Int32Array;
  /** inputs shifted left by one token: targets[r][t] is the token after inputs[r][t]. */
  targets: Int32Array;
  count: number;
  seqLen: number;
}

export interface SampleOptions {
  seqLen: number;
  seed: number;
  /** Global index (over the whole run, across epochs) of the first sample of the batch. */
  firstSample: number;
  count: number;
}

export interface ValidationOptions {
  seqLen: number;
  batchSize: number;
  /** Stop after this many batches (all windows when omitted). */
  maxBatches?: number;
}

export interface SplitOptions {
  /** Documents held out for validation in each genre (default 2). */
  validPerGenre: number;
  /** Seed choosing which documents are held out (default 1234). */
  seed: number;
}

export interface PrepareProgress {
  stage: "load" | "train-tokenizer" | "tokenize" | "write" | "entropy";
  done: number;
  total: number;
}

export interface PrepareOptions {
  /** Folder holding cached prepared datasets, one subfolder per content hash. */
  cacheDir: string;
  /** Vocabulary size including the end-of-text token (257 … 1<<20). */
  vocabSize: number;
  /** Documents to use; the Brown corpus when omitted. */
  documents?: readonly CorpusDocument[];
  split?: Partial<SplitOptions>;
  onProgress?: (p: PrepareProgress) => void;
}

export interface UnigramEntropy {
  /** Cross-entropy of validation tokens under the add-one-smoothed training unigram distribution. */
  bits: number;
  nats: number;
}

export interface PreparedData {
  tokenizer: Tokenizer;
  train: IndexedDataset;
  valid: IndexedDataset;
  unigramEntropyBits: number;
  unigramEntropyNats: number;
  /** Hex sha256 of (corpus content, tokenizer settings, split settings, format version). */
  hash: string;
  cacheHit: boolean;
  /** Folder of this prepared dataset: tokenizer.json, train.{bin,idx}, valid.{bin,idx}, meta.json. */
  dir: string;
  tokenizerPath: string;
  trainDocumentIds: string[];
  validDocumentIds: string[];
}
