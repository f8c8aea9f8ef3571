// Public face of checkpoints: the single-rank store, sharded save by (stage, tp rank), loading into any layout,
// asynchronous saves (copy now, write in the background) and finding the newest good checkpoint.
export {
  commitCheckpoint,
  copyTensorsInto,
  hasCheckpoint,
  latestCheckpointDir,
  listCheckpoints,
  loadCheckpoint,
  prepareStagingDir,
  pruneCheckpoints,
  readCheckpointFile,
  readManifest,
  saveCheckpoint,
  setLatest,
  singleRankFiles,
  singleRankShard,
  stagingDirName,
  stepDirName,
  type CheckpointContent,
  type LoadedCheckpoint,
} from "./store.ts";
export { CheckpointError } from "./errors.ts";
export { MANIFEST_FILE, manifestSchema, type CheckpointManifest, type FileRecord, type TensorRecord } from "./manifest.ts";
export {
  modelShardFile,
  optimizerShardFile,
  paramNameOf,
  planCheckpointShard,
  writeCheckpointShard,
  type GlobalShapes,
  type ShardContent,
  type ShardDescription,
} from "./shard-files.ts";
export { ShardWriteError } from "./errors.ts";
export {
  buildManifest,
  checkpointInfo,
  checkTensorCoverage,
  SINGLE_RANK_LAYOUT,
  type CheckpointInfo,
  type CheckpointLayout,
  type CheckpointSource,
} from "./build-manifest.ts";
export { ManifestError } from "./errors.ts";
export { loadCheckpointShard, type LoadedShard, type ShardLoadTarget } from "./load-shard.ts";
export { assembleWholeTensors, pieceData } from "./assemble.ts";
export { CheckpointAssemblyError } from "./errors.ts";
export { copyRegion, extractShard, intersectBoxes, localBlockRanges, type Box } from "./tensor-blocks.ts";
export { readSafetensors, writeSafetensors, type TensorEntry } from "./safetensors.ts";
export { SafetensorsError } from "./errors.ts";
export { CheckpointWriter, type PendingCheckpoint, type PendingWrite } from "./async-save.ts";
export { safetensorsImage } from "./file-image.ts";
export { ImageWriterThread, type ImageFile, type WrittenImages } from "./image-writer-thread.ts";
export {
  describeCorruption,
  findCorruption,
  latestGoodCheckpoint,
  setAsideCorrupt,
  type CorruptCheckpoint,
  type GoodCheckpoint,
} from "./verify.ts";
export { runTokenizer } from "./run-tokenizer.ts";
