// Builds the manifest of a sharded checkpoint from the descriptions every (stage, tp rank) returned after writing
// its files (shard-files.ts). It is written last, by one rank, once all shard files exist; building it checks
// that every (stage, tp rank) reported, and that the pieces of every tensor cover it exactly once.
import { MANIFEST_FORMAT, MANIFEST_VERSION, type CheckpointInfo, type CheckpointManifest, type TensorRecord } from "./manifest.ts";

export type { CheckpointInfo } from "./manifest.ts";
import type { ShardDescription } from "./shard-files.ts";
import { elementCount, intersectBoxes } from "./tensor-blocks.ts";

export class ShardedManifestError extends Error {
  override name = "ShardedManifestError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}


export type CheckpointLayout = CheckpointManifest["layout"];

/** Every piece inside its global shape, no two pieces of one tensor overlapping, all elements covered. */
export function checkTensorCoverage(tensors: readonly TensorRecord[], fail: (message: string) => Error = (m) => new ShardedManifestError(m)): void {
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

export function buildShardedManifest(info: CheckpointInfo, layout: CheckpointLayout, shards: readonly ShardDescription[]): CheckpointManifest {
  const seen = new Set<string>();
  for (const s of shards) {
    const key = `${s.coord.stage},${s.coord.tpRank}`;
    if (s.coord.stage >= layout.pp || s.coord.tpRank >= layout.tp) {
      throw new ShardedManifestError(`shard of stage ${s.coord.stage}, tp rank ${s.coord.tpRank} is outside the layout pp ${layout.pp} × tp ${layout.tp}`);
    }
    if (seen.has(key)) throw new ShardedManifestError(`two shards for stage ${s.coord.stage}, tp rank ${s.coord.tpRank}`);
    seen.add(key);
  }
  for (let p = 0; p < layout.pp; p++)
    for (let t = 0; t < layout.tp; t++) {
      if (!seen.has(`${p},${t}`)) throw new ShardedManifestError(`no shard from stage ${p}, tp rank ${t}: the checkpoint is incomplete`);
    }
  const files = shards.flatMap((s) => s.files);
  const names = new Set(files.map((f) => f.file));
  if (names.size !== files.length) throw new ShardedManifestError("two shards wrote the same file name");
  const tensors = shards.flatMap((s) => s.tensors);
  for (const t of tensors) if (!names.has(t.file)) throw new ShardedManifestError(`tensor ${t.name} is in ${t.file}, which no shard reported`);
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
