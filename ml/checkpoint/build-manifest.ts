// The one builder of checkpoint manifests, whole or sharded. A whole (single-rank) checkpoint is the sharded case
// with one shard, (stage 0, tp rank 0) of the layout 1×1×1, so both go through `buildManifest`: it checks that every
// (stage, tp rank) of the layout reported exactly once and that the pieces of every tensor cover it exactly once.
// `checkpointInfo` says, in one place, what a manifest records about the run besides its files and tensors.
// A sharded manifest is written last, by one rank, once every shard's files exist (shard-files.ts).
import { ManifestError } from "./errors.ts";
import { MANIFEST_FORMAT, MANIFEST_VERSION, type CheckpointInfo, type CheckpointManifest, type TensorRecord } from "./manifest.ts";
import type { ShardDescription } from "./shard-files.ts";
import { elementCount, intersectBoxes } from "./tensor-blocks.ts";

export type { CheckpointInfo } from "./manifest.ts";

export type CheckpointLayout = CheckpointManifest["layout"];

/** The layout of a checkpoint one rank saved whole. */
export const SINGLE_RANK_LAYOUT: CheckpointLayout = { dp: 1, pp: 1, tp: 1 };

/** What a checkpoint records about the run it was taken from. */
export interface CheckpointSource {
  /** Where training stood: the checkpoint holds the state after `step`. */
  progress: { step: number; tokensSeen: number; samplesSeen: number };
  /** The run's training config (stored whole); its seeds decide the weights' initialisation and the data order. */
  config: { seed: number; data: { seed: number } };
  tokenizer: { file: string; sha256?: string };
  /** Figures at save time (last loss, validation loss). */
  metrics?: Record<string, number>;
  optimizerStepCount: number;
}

export function checkpointInfo(s: CheckpointSource): CheckpointInfo {
  const { step, tokensSeen, samplesSeen } = s.progress;
  return {
    step,
    tokensSeen,
    samplesSeen,
    seed: s.config.seed,
    // sampling is a pure function of (seed, sample index): the next sample is where the data stream stands
    data: { tokenizerFile: s.tokenizer.file, tokenizerSha256: s.tokenizer.sha256, seed: s.config.data.seed, nextSample: samplesSeen },
    config: s.config,
    metrics: s.metrics,
    optimizerStepCount: s.optimizerStepCount,
  };
}

/** Every piece inside its global shape, no two pieces of one tensor overlapping, all elements covered. */
export function checkTensorCoverage(
  tensors: readonly TensorRecord[],
  fail: (message: string) => Error = (m) => new ManifestError(m),
): void {
  const byTensor = new Map<string, TensorRecord[]>();
  for (const t of tensors) {
    const key = `${t.kind} ${t.name}`;
    byTensor.set(key, [...(byTensor.get(key) ?? []), t]);
  }
  for (const [key, pieces] of byTensor) {
    const globalShape = pieces[0]!.globalShape;
    for (const p of pieces) {
      if (p.globalShape.join(",") !== globalShape.join(",")) {
        throw fail(`${key}: pieces disagree on the global shape ([${p.globalShape}] in ${p.file}, [${globalShape}] elsewhere)`);
      }
      if (p.shape.length !== globalShape.length || p.offset.length !== globalShape.length) {
        throw fail(`${key} in ${p.file}: shape/offset rank does not match the global shape [${globalShape}]`);
      }
      if (p.shape.some((n, d) => p.offset[d]! + n > globalShape[d]!)) {
        throw fail(`${key} in ${p.file}: piece at [${p.offset}] of shape [${p.shape}] exceeds the global shape [${globalShape}]`);
      }
    }
    for (let i = 0; i < pieces.length; i++)
      for (let j = i + 1; j < pieces.length; j++) {
        const [a, b] = [pieces[i]!, pieces[j]!];
        if (intersectBoxes(a, b)) throw fail(`${key}: pieces in ${a.file} and ${b.file} overlap (offsets [${a.offset}] and [${b.offset}])`);
      }
    const covered = pieces.reduce((n, p) => n + elementCount(p.shape), 0);
    if (covered !== elementCount(globalShape)) throw fail(`${key}: its pieces cover ${covered} of ${elementCount(globalShape)} elements`);
  }
}

function checkShards(layout: CheckpointLayout, shards: readonly ShardDescription[]): void {
  const seen = new Set<string>();
  const zero = new Set<string>();
  for (const s of shards) {
    const key = `${s.coord.stage},${s.coord.tpRank}`;
    if (s.coord.stage >= layout.pp || s.coord.tpRank >= layout.tp) {
      throw new ManifestError(
        `shard of stage ${s.coord.stage}, tp rank ${s.coord.tpRank} is outside the layout pp ${layout.pp} × tp ${layout.tp}`,
      );
    }
    // ZeRO-1 shard files (one per dp shard of a (stage, tp rank)) add to it; the coverage check finds gaps and overlaps
    if (seen.has(key) && !s.zeroShards) throw new ManifestError(`two shards for stage ${s.coord.stage}, tp rank ${s.coord.tpRank}`);
    if (!s.zeroShards) seen.add(key);
    else zero.add(key);
  }
  for (let p = 0; p < layout.pp; p++)
    for (let t = 0; t < layout.tp; t++) {
      if (!seen.has(`${p},${t}`) && !zero.has(`${p},${t}`))
        throw new ManifestError(`no shard from stage ${p}, tp rank ${t}: the checkpoint is incomplete`);
    }
}

/** The manifest of a checkpoint whose shards (one for a single rank) wrote and described their files. */
export function buildManifest(info: CheckpointInfo, layout: CheckpointLayout, shards: readonly ShardDescription[]): CheckpointManifest {
  checkShards(layout, shards);
  const files = shards.flatMap((s) => s.files);
  const names = new Set(files.map((f) => f.file));
  if (names.size !== files.length) throw new ManifestError("two shards wrote the same file name");
  const tensors = shards.flatMap((s) => s.tensors);
  for (const t of tensors) if (!names.has(t.file)) throw new ManifestError(`tensor ${t.name} is in ${t.file}, which no shard reported`);
  checkTensorCoverage(tensors);
  return {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    createdAt: new Date().toISOString(),
    step: info.step,
    tokensSeen: info.tokensSeen,
    samplesSeen: info.samplesSeen,
    seed: info.seed,
    data: info.data,
    optimizer: { stepCount: info.optimizerStepCount },
    layout: { ...layout },
    config: info.config,
    metrics: info.metrics ?? {},
    files,
    tensors,
  };
}
