// prepareData: corpus → split → BPE tokenizer → tokenized train/valid datasets + unigram baseline,
// cached in cacheDir/<hash prefix>/ and reused when the content hash matches. A new entry is built in
// a temporary folder and renamed into place, so concurrent preparers never see a half-written cache.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { loadBrownCorpus } from "./brown-corpus.ts";
import { countPieces, MAX_VOCAB_SIZE, trainBpe } from "./bpe-train.ts";
import { BpeTokenizer, END_OF_TEXT } from "./bpe-tokenizer.ts";
import { preparedDataHash } from "./content-hash.ts";
import { openIndexedDataset } from "./dataset-reader.ts";
import { dtypeForVocab } from "./dataset-format.ts";
import { IndexedDatasetWriter } from "./dataset-writer.ts";
import { DataFileError, DataOptionError } from "./errors.ts";
import { loadTokenizer, saveTokenizer } from "./tokenizer-file.ts";
import { unigramCrossEntropy } from "./unigram-entropy.ts";
import { defaultSplit, splitDocuments } from "./validation-split.ts";
import type { CorpusDocument, PreparedData, PrepareOptions, PrepareProgress } from "./types.ts";

interface Meta {
  hash: string;
  vocabSize: number;
  trainDocumentIds: string[];
  validDocumentIds: string[];
  unigramEntropyBits: number;
  unigramEntropyNats: number;
}

const TOKENIZER_FILE = "tokenizer.json";
const META_FILE = "meta.json";

/** Lets timers, progress bars and heartbeats run between chunks of preparation work. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

async function build(
  dir: string,
  split: { train: CorpusDocument[]; valid: CorpusDocument[] },
  vocabSize: number,
  hash: string,
  progress: (p: PrepareProgress) => void,
): Promise<Meta> {
  mkdirSync(dir, { recursive: true });
  const trainTexts = split.train.map((d) => d.text);
  const bpeVocab = vocabSize - 1; // the last id is end-of-text
  const pieces = countPieces(trainTexts);
  await yieldToEventLoop();
  let lastReport = 0;
  const model = trainBpe(pieces, {
    vocabSize: bpeVocab,
    onProgress: (done, total) => {
      if (done - lastReport >= 64 || done === total) {
        lastReport = done;
        progress({ stage: "train-tokenizer", done, total });
      }
    },
  });
  const tokenizer = BpeTokenizer.fromModel(model, END_OF_TEXT);
  saveTokenizer(tokenizer, path.join(dir, TOKENIZER_FILE));
  await yieldToEventLoop();

  const total = split.train.length + split.valid.length;
  let done = 0;
  for (const [name, docs] of [
    ["train", split.train],
    ["valid", split.valid],
  ] as const) {
    const writer = new IndexedDatasetWriter(path.join(dir, name), dtypeForVocab(tokenizer.vocabSize));
    for (const doc of docs) {
      // Literal "<|endoftext|>" inside a document stays text; only document ends get the special id.
      const ids = tokenizer.encodeOrdinary(doc.text);
      ids.push(tokenizer.eotId);
      writer.addDocument(ids);
      progress({ stage: "tokenize", done: ++done, total });
      if (done % 16 === 0) await yieldToEventLoop();
    }
    writer.finish();
  }

  progress({ stage: "entropy", done: 0, total: 1 });
  const train = openIndexedDataset(path.join(dir, "train"));
  const valid = openIndexedDataset(path.join(dir, "valid"));
  const entropy = unigramCrossEntropy(train.tokens, valid.tokens, tokenizer.vocabSize);
  progress({ stage: "entropy", done: 1, total: 1 });
  const meta: Meta = {
    hash,
    vocabSize: tokenizer.vocabSize,
    trainDocumentIds: split.train.map((d) => d.id),
    validDocumentIds: split.valid.map((d) => d.id),
    unigramEntropyBits: entropy.bits,
    unigramEntropyNats: entropy.nats,
  };
  writeFileSync(path.join(dir, META_FILE), JSON.stringify(meta, null, 2));
  return meta;
}

function readMeta(dir: string, hash: string): Meta | null {
  const file = path.join(dir, META_FILE);
  if (!existsSync(file)) return null;
  try {
    const meta = JSON.parse(readFileSync(file, "utf8")) as Meta;
    return meta.hash === hash ? meta : null;
  } catch {
    return null;
  }
}

function open(dir: string, meta: Meta, hash: string, cacheHit: boolean): PreparedData {
  const tokenizerPath = path.join(dir, TOKENIZER_FILE);
  const tokenizer = loadTokenizer(tokenizerPath);
  if (tokenizer.vocabSize !== meta.vocabSize) {
    throw new DataFileError(tokenizerPath, `vocabulary size ${tokenizer.vocabSize} differs from ${meta.vocabSize} in ${META_FILE}`);
  }
  return {
    tokenizer,
    train: openIndexedDataset(path.join(dir, "train")),
    valid: openIndexedDataset(path.join(dir, "valid")),
    unigramEntropyBits: meta.unigramEntropyBits,
    unigramEntropyNats: meta.unigramEntropyNats,
    hash,
    cacheHit,
    dir,
    tokenizerPath,
    trainDocumentIds: meta.trainDocumentIds,
    validDocumentIds: meta.validDocumentIds,
  };
}

/**
 * Opens a prepared-data folder (tokenizer.json, train/valid .bin/.idx, meta.json) written by
 * prepareData or by another producer of the same layout (the curation pipeline). Errors name the file.
 */
export function openPreparedData(dir: string): PreparedData {
  const file = path.join(dir, META_FILE);
  if (!existsSync(file)) throw new DataFileError(file, "prepared-data metadata does not exist");
  let meta: Meta;
  try {
    meta = JSON.parse(readFileSync(file, "utf8")) as Meta;
  } catch (cause) {
    throw new DataFileError(file, `cannot read prepared-data metadata (${(cause as Error).message})`, { cause });
  }
  for (const key of ["hash", "vocabSize", "trainDocumentIds", "validDocumentIds", "unigramEntropyBits", "unigramEntropyNats"] as const) {
    if (meta[key] === undefined) throw new DataFileError(file, `field "${key}" is missing`);
  }
  return open(dir, meta, meta.hash, true);
}

/**
 * Prepares (or reuses from cacheDir) the tokenizer and the train/valid datasets. Asynchronous only so
 * the event loop runs between chunks of work (BPE training itself is one synchronous stretch of seconds).
 */
export async function prepareData(options: PrepareOptions): Promise<PreparedData> {
  const { cacheDir, vocabSize, onProgress } = options;
  if (!Number.isInteger(vocabSize) || vocabSize < 257 || vocabSize > MAX_VOCAB_SIZE) {
    throw new DataOptionError(
      `vocabSize must be an integer in [257, ${MAX_VOCAB_SIZE}] (256 bytes + end-of-text at least), got ${vocabSize}`,
    );
  }
  const progress = onProgress ?? (() => {});
  progress({ stage: "load", done: 0, total: 1 });
  const docs = options.documents ?? loadBrownCorpus();
  const splitOptions = { ...defaultSplit, ...options.split };
  const split = splitDocuments(docs, splitOptions);
  if (split.train.length === 0 || split.valid.length === 0) {
    throw new DataOptionError(
      `the split leaves ${split.train.length} training and ${split.valid.length} validation documents; both need at least one`,
    );
  }
  progress({ stage: "load", done: 1, total: 1 });

  const hash = preparedDataHash(docs, { tokenizer: { type: "byte-level-bpe", vocabSize, eot: END_OF_TEXT }, split: splitOptions });
  const dir = path.join(cacheDir, hash.slice(0, 16));
  const cached = readMeta(dir, hash);
  if (cached) {
    try {
      return open(dir, cached, hash, true);
    } catch {
      rmSync(dir, { recursive: true, force: true }); // damaged cache entry: rebuild it
    }
  } else if (existsSync(dir)) {
    rmSync(dir, { recursive: true, force: true });
  }

  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  let meta: Meta;
  try {
    meta = await build(tmp, split, vocabSize, hash, progress);
    mkdirSync(cacheDir, { recursive: true });
    renameSync(tmp, dir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    // Another process may have finished the same entry first: use it.
    const theirs = readMeta(dir, hash);
    if (theirs) return open(dir, theirs, hash, true);
    throw err;
  }
  return open(dir, meta, hash, false);
}
