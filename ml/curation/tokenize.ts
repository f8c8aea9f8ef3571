// Tokenization of the curated corpus into the data part's prepared-data layout, so training reads
// it like its own cache entry: tokenizer.json (byte-level BPE trained on the curated training
// documents), train.{bin,idx} (the blend, repeats included, each document ending with
// end-of-text), valid.{bin,idx} (documents held out per dataset before blending), meta.json.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import {
  BpeTokenizer,
  dtypeForVocab,
  END_OF_TEXT,
  IndexedDatasetWriter,
  preparedDataHash,
  saveTokenizer,
  splitDocuments,
  trainBpeOnTexts,
  unigramCrossEntropy,
  type CorpusDocument,
} from "../data/mod.ts";
import type { CurationDoc, ProgressFn, StageReport } from "./types.ts";
import { StageTally } from "./stage-tally.ts";
import { totalBytes } from "./text-util.ts";

export interface TokenizeConfig {
  /** Vocabulary size including the end-of-text token. */
  vocabSize: number;
  /** Documents of each dataset held out for validation (at least one stays for training). */
  validPerDataset: number;
}

const asCorpusDocs = (docs: readonly CurationDoc[]): CorpusDocument[] => docs.map((d) => ({ id: d.id, genre: d.dataset, text: d.text }));

/** Holds out `validPerDataset` documents of each dataset, chosen by seed (the data part's split). */
export function holdOutValidation(
  docs: readonly CurationDoc[],
  validPerDataset: number,
  seed: number,
): { train: CurationDoc[]; valid: CurationDoc[] } {
  const split = splitDocuments(asCorpusDocs(docs), { validPerGenre: validPerDataset, seed });
  const validIds = new Set(split.valid.map((d) => d.id));
  return { train: docs.filter((d) => !validIds.has(d.id)), valid: docs.filter((d) => validIds.has(d.id)) };
}

export interface TokenizedCorpus {
  dir: string;
  tokenizerPath: string;
  vocabSize: number;
  trainTokens: number;
  validTokens: number;
  unigramEntropyNats: number;
}

/**
 * Trains the tokenizer on the distinct training documents, then writes the blended training
 * documents and the validation documents. `blended` may repeat documents (epochs > 1).
 */
export function tokenizeCorpus(
  dir: string,
  blended: readonly CurationDoc[],
  valid: readonly CurationDoc[],
  config: TokenizeConfig,
  onProgress?: ProgressFn,
): { result: TokenizedCorpus; report: StageReport } {
  const tally = new StageTally("tokenize", [...blended, ...valid]);
  if (blended.length === 0 || valid.length === 0) {
    throw new RangeError(`tokenization needs training and validation documents, got ${blended.length} and ${valid.length}`);
  }
  mkdirSync(dir, { recursive: true });
  const distinct = [...new Map(blended.map((d) => [d.id, d])).values()];
  const model = trainBpeOnTexts(
    distinct.map((d) => d.text),
    { vocabSize: config.vocabSize - 1, onProgress: (done, total) => onProgress?.("train tokenizer", done, total) },
  );
  const tokenizer = BpeTokenizer.fromModel(model, END_OF_TEXT);
  const tokenizerPath = path.join(dir, "tokenizer.json");
  saveTokenizer(tokenizer, tokenizerPath);

  const tokens: Record<"train" | "valid", number[]> = { train: [], valid: [] };
  const total = blended.length + valid.length;
  let done = 0;
  for (const [name, docs] of [
    ["train", blended],
    ["valid", valid],
  ] as const) {
    const writer = new IndexedDatasetWriter(path.join(dir, name), dtypeForVocab(tokenizer.vocabSize));
    const cache = new Map<string, number[]>(); // repeated documents are encoded once
    for (const doc of docs) {
      let ids = cache.get(doc.id);
      if (!ids) {
        ids = tokenizer.encodeOrdinary(doc.text);
        ids.push(tokenizer.eotId);
        cache.set(doc.id, ids);
      }
      writer.addDocument(ids);
      for (const t of ids) tokens[name].push(t);
      done += 1;
      if (done % 50 === 0 || done === total) onProgress?.("tokenize", done, total);
    }
    writer.finish();
  }
  const entropy = unigramCrossEntropy(tokens.train, tokens.valid, tokenizer.vocabSize);
  const settings = { tokenizer: { type: "byte-level-bpe", vocabSize: tokenizer.vocabSize, eot: END_OF_TEXT }, curated: true };
  const meta = {
    hash: preparedDataHash([...asCorpusDocs(blended), ...asCorpusDocs(valid)], settings),
    vocabSize: tokenizer.vocabSize,
    trainDocumentIds: blended.map((d) => d.id),
    validDocumentIds: valid.map((d) => d.id),
    unigramEntropyBits: entropy.bits,
    unigramEntropyNats: entropy.nats,
  };
  writeFileSync(path.join(dir, "meta.json"), JSON.stringify(meta, null, 2));
  const result: TokenizedCorpus = {
    dir,
    tokenizerPath,
    vocabSize: tokenizer.vocabSize,
    trainTokens: tokens.train.length,
    validTokens: tokens.valid.length,
    unigramEntropyNats: entropy.nats,
  };
  Object.assign(tally.details, {
    ...result,
    trainDocuments: blended.length,
    validDocuments: valid.length,
    bytesPerToken: Number((totalBytes([...blended, ...valid]) / (tokens.train.length + tokens.valid.length)).toFixed(3)),
  });
  return { result, report: tally.finish([...blended, ...valid]) };
}
