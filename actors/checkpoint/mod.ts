// Public face of checkpoints: the single-rank store, sharded save by (stage, tp rank), loading into any layout.
export {
  CheckpointError,
  commitCheckpoint,
  copyTensorsInto,
  latestCheckpointDir,
  listCheckpoints,
  loadCheckpoint,
  prepareStagingDir,
  pruneCheckpoints,
  readCheckpointFile,
  readManifest,
  saveCheckpoint,
  stagingDirName,
  stepDirName,
  type CheckpointContent,
  type LoadedCheckpoint,
} from "./store.ts";
export { MANIFEST_FILE, manifestSchema, type CheckpointManifest, type FileRecord, type TensorRecord } from "./manifest.ts";
export {
  modelShardFile,
  optimizerShardFile,
  paramNameOf,
  ShardWriteError,
  writeCheckpointShard,
  type GlobalShapes,
  type ShardContent,
  type ShardDescription,
} from "./shard-files.ts";
export { buildShardedManifest, checkTensorCoverage, ShardedManifestError, type CheckpointInfo, type CheckpointLayout } from "./sharded-manifest.ts";
export { loadCheckpointShard, type LoadedShard, type ShardLoadTarget } from "./load-shard.ts";
export { assembleWholeTensors, CheckpointAssemblyError, pieceData } from "./assemble.ts";
export { copyRegion, extractShard, intersectBoxes, localBlockRanges, type Box } from "./tensor-blocks.ts";
export { readSafetensors, SafetensorsError, writeSafetensors, type TensorEntry } from "./safetensors.ts";
