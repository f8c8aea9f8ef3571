// Loads exactly one rank's local tensors (parameters and AdamW moments) for a target layout from a checkpoint
// saved with any layout: for every block the rank holds (shard-spec.ts), the pieces that overlap it are copied
// from whichever files hold them. Only files holding a needed piece are read (and each is checked against its
// size and sha256 first).
import path from "node:path";
import type { NamedTensor } from "../model/types.ts";
import { rankShards, type ShardCoord, type ShardLayout, type TensorShard } from "../parallel/shard-spec.ts";
import { pieceData } from "./assemble.ts";
import type { CheckpointManifest, TensorRecord } from "./manifest.ts";
import type { TensorEntry } from "./safetensors.ts";
import { checkTensorCoverage } from "./build-manifest.ts";
import { readCheckpointFile, readManifest } from "./store.ts";
import { CheckpointError } from "./errors.ts";
import { blockBox, copyRegion, elementCount, intersectBoxes, localBlockRanges } from "./tensor-blocks.ts";

export interface ShardLoadTarget {
  layout: ShardLayout;
  coord: ShardCoord;
  /** The model's parameters with GLOBAL shapes (e.g. gptParameterLayout(config)). */
  params: readonly { name: string; shape: readonly number[] }[];
  /** Also load the AdamW moments (default true; false for inference). */
  optimizer?: boolean;
}

export interface LoadedShard {
  dir: string;
  manifest: CheckpointManifest;
  /** This rank's local parameters, in the order of target.params. */
  params: NamedTensor[];
  /** `<param>.exp_avg`, `<param>.exp_avg_sq` per local parameter (AdamW's order). */
  optimizerState: NamedTensor[];
  /** Files that were read. */
  filesRead: string[];
}

interface Want {
  localName: string;
  kind: TensorRecord["kind"];
  shard: TensorShard;
  pieces: TensorRecord[];
}

/** Local tensors of `target.coord` in `target.layout` from the checkpoint folder `dir`. */
export function loadCheckpointShard(dir: string, target: ShardLoadTarget): LoadedShard {
  const manifest = readManifest(dir);
  checkTensorCoverage(manifest.tensors, (m) => new CheckpointError(`checkpoint ${dir}: ${m}`));
  const pieces = new Map<string, TensorRecord[]>();
  for (const t of manifest.tensors) {
    const key = `${t.kind} ${t.name}`;
    pieces.set(key, [...(pieces.get(key) ?? []), t]);
  }
  const shards = rankShards(target.params, target.layout, target.coord);
  const withOptimizer = target.optimizer ?? true;
  const wants: Want[] = shards.flatMap((shard) =>
    (
      [
        ["param", shard.name],
        ...(withOptimizer
          ? ([
              ["optimizer", `${shard.name}.exp_avg`],
              ["optimizer", `${shard.name}.exp_avg_sq`],
            ] as const)
          : []),
      ] as const
    ).map(([kind, localName]) => {
      const found = pieces.get(`${kind} ${localName}`);
      const what = kind === "param" ? "parameter" : "optimizer tensor";
      if (!found) throw new CheckpointError(`checkpoint ${dir} has no ${what} ${localName}`);
      const globalShape = found[0]!.globalShape;
      if (globalShape.join(",") !== shard.globalShape.join(",")) {
        throw new CheckpointError(
          `checkpoint ${dir}: ${what} ${localName} has global shape [${globalShape}], the model expects [${shard.globalShape}]`,
        );
      }
      const overlapping = found.filter((p) => shard.blocks.some((b) => intersectBoxes(p, blockBox(b))));
      return { localName, kind, shard, pieces: overlapping };
    }),
  );
  const needed = new Set(wants.flatMap((w) => w.pieces.map((p) => p.file)));
  const contents = new Map<string, Map<string, TensorEntry>>();
  for (const f of manifest.files) if (needed.has(f.file)) contents.set(f.file, readCheckpointFile(dir, f));
  for (const file of needed)
    if (!contents.has(file)) throw new CheckpointError(`checkpoint ${dir}: tensors are in ${file}, which the manifest's file list lacks`);

  const out = { param: [] as NamedTensor[], optimizer: [] as NamedTensor[] };
  for (const w of wants) {
    const local = new Float32Array(elementCount(w.shard.localShape));
    let copied = 0;
    for (const r of localBlockRanges(w.shard)) {
      const dst = local.subarray(r.start, r.start + r.length);
      for (const p of w.pieces) {
        const region = intersectBoxes(p, blockBox(r.block));
        if (!region) continue;
        const src = pieceData(contents.get(p.file)?.get(p.entry ?? w.localName), p, path.join(dir, p.file));
        copyRegion(src, p, dst, blockBox(r.block), region);
        copied += elementCount(region.shape);
      }
    }
    if (copied !== local.length)
      throw new CheckpointError(`checkpoint ${dir}: ${w.localName} fills ${copied} of ${local.length} local elements`);
    out[w.kind].push({ name: w.localName, shape: [...w.shard.localShape], data: local });
  }
  return { dir, manifest, params: out.param, optimizerState: out.optimizer, filesRead: [...needed].sort() };
}
