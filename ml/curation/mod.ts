// Public surface of corpus curation (`troupe data`).
export type { CurationDoc, StageReport, RemovalReason, RemovalExample, ProgressFn } from "./types.ts";
export { loadCurationConfig, parseCurationConfig, type CurationConfig } from "./config.ts";
export { CurationConfigError } from "./errors.ts";
export { runCuration, type CurationResult, type RunOptions } from "./pipeline.ts";
export { writeCurationOutput, type OutputFiles } from "./output.ts";
export { formatReport, formatSummary } from "./report-format.ts";
export { cleanup, cleanText, type CleanupConfig } from "./cleanup.ts";
export { qualityFilter, trainQualityClassifier, type QualityConfig, type LabelledText } from "./quality-filter.ts";
export { exactDedup, contentHash } from "./exact-dedup.ts";
export {
  fuzzyDedup,
  findNearDuplicates,
  startFuzzyPool,
  inProcessFinder,
  type FuzzyDedupConfig,
  type NearDuplicates,
  type NearDuplicateFinder,
} from "./fuzzy-dedup.ts";
export { decontaminate, decontaminateText, MEGATRON_DECONTAMINATION, type DecontaminationConfig } from "./decontaminate.ts";
export { blend, blendEpochs, type BlendConfig } from "./blend.ts";
export { loadSource, type SourceSpec } from "./sources.ts";
export { SourceError } from "./errors.ts";
export { candidateProbability, MTNLG_MINHASH, type MinHashParams } from "./minhash.ts";
export { curateToFolder, type CurationRun } from "./curate-to-folder.ts";
export { tokenizeCorpus, holdOutValidation, type TokenizeConfig, type TokenizedCorpus } from "./tokenize.ts";
