// Public API of the data part (stable: the trainer, curation and evaluation import from here).
//
//   const data = await prepareData({ cacheDir: ".troupe/data", vocabSize: 4096 });
//   data.tokenizer.encode("Hello") / .decode(ids)          byte-level BPE, tokenizer.json at data.tokenizerPath
//   sampleBatch(data.train, { seqLen, seed, firstSample, count })  → { inputs, targets } (Int32Array, count×seqLen)
//   for (const b of validationBatches(data.valid, { seqLen, batchSize })) …
//   data.unigramEntropyNats                                  the loss a unigram model would get
export type * from "./types.ts";
export { DataFileError, DataOptionError } from "./errors.ts";
export { brownCorpusDir, brownGenres, detagDocument, detagSentence, loadBrownCorpus, stripTag } from "./brown-corpus.ts";
export { defaultSplit, splitDocuments, type CorpusSplit } from "./validation-split.ts";
export { byteToChar } from "./byte-unicode.ts";
export { GPT2_SPLIT_PATTERN, pretokenize } from "./pretokenize.ts";
export { countPieces, MAX_VOCAB_SIZE, trainBpe, trainBpeOnTexts, type BpeModel, type BpeTrainOptions } from "./bpe-train.ts";
export { BpeTokenizer, END_OF_TEXT } from "./bpe-tokenizer.ts";
export { parseTokenizerJson, tokenizerToJson } from "./tokenizer-json.ts";
export { loadTokenizer, saveTokenizer } from "./tokenizer-file.ts";
export { dtypeForVocab, IDX_MAGIC, IDX_VERSION } from "./dataset-format.ts";
export { IndexedDatasetWriter, writeIndexedDataset } from "./dataset-writer.ts";
export { openIndexedDataset } from "./dataset-reader.ts";
export { WindowPermutation } from "./window-permutation.ts";
export { sampleBatch, validationBatches, windowsPerEpoch } from "./packed-sampler.ts";
export { unigramCrossEntropy } from "./unigram-entropy.ts";
export { PREPARED_FORMAT_VERSION, preparedDataHash } from "./content-hash.ts";
export { openPreparedData, prepareData } from "./prepare-data.ts";
