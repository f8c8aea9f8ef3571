// One (pipeline stage, tensor-parallel rank) writes its part of a checkpoint: model-p{P}-t{T}.safetensors and
// optimizer-p{P}-t{T}.safetensors, holding the local tensors whose copy is primary (shard-spec.ts): replicated
// tensors only from tp rank 0, the tied wte only from the first stage. Only dp rank 0 of each (p, t) writes.
// The returned description (plain JSON, can travel in a message) is what buildManifest needs.
import { ShardWriteError } from "./errors.ts";
import { mkdirSync, statSync } from "node:fs";
import path from "node:path";
import type { NamedTensor } from "../model/types.ts";
import { shardOf, type ShardCoord, type ShardLayout, type TensorShard } from "../parallel/shard-spec.ts";
import type { FileRecord, TensorRecord } from "./manifest.ts";
import { MANIFEST_FORMAT } from "./manifest.ts";
import { writeSafetensors } from "./safetensors.ts";
import { flatRangeBoxes, localBlockRanges } from "./tensor-blocks.ts";

/** AdamW moment names are `<param>.exp_avg` and `<param>.exp_avg_sq` (ml/optim/adamw.ts). */
const MOMENT = /^(.+)\.(exp_avg|exp_avg_sq)$/;

export function paramNameOf(stateName: string): string {
  const m = MOMENT.exec(stateName);
  if (!m) throw new ShardWriteError(`optimizer tensor ${stateName} is not named <param>.exp_avg or <param>.exp_avg_sq`);
  return m[1]!;
}

export function modelShardFile(coord: ShardCoord): string {
  return `model-p${coord.stage}-t${coord.tpRank}.safetensors`;
}

export function optimizerShardFile(coord: ShardCoord): string {
  return `optimizer-p${coord.stage}-t${coord.tpRank}.safetensors`;
}

export interface ShardContent {
  coord: ShardCoord;
  /** Local parameter tensors (global names, local shapes as shardOf gives). */
  params: readonly NamedTensor[];
  /** Local AdamW moments, one pair per local parameter. */
  optimizerState: readonly NamedTensor[];
  step: number;
  optimizerStepCount: number;
}

/** What one rank wrote: its files (size, sha256) and one record per piece of the global tensors. */
export interface ShardDescription {
  coord: ShardCoord;
  files: FileRecord[];
  tensors: TensorRecord[];
  /** ZeRO-1 (dp > 2): the dp shards of this (stage, tp rank) it wrote; one (stage, tp rank) has one such file per shard. */
  zeroShards?: number[];
}

function zeroShardFile(coord: ShardCoord, index: number): string {
  return `zero-p${coord.stage}-t${coord.tpRank}-d${index}.safetensors`;
}

/** One dp shard of a (stage, tp rank) under ZeRO-1 with dp > 2: the flat ranges of the local tensors it holds. */
export interface ZeroShardContent {
  coord: ShardCoord;
  /** The shard's place in the data-parallel group. */
  index: number;
  /** Per local tensor piece: the parameter's global name and local shape, the range [start, end) of the local tensor, and its values. */
  pieces: {
    name: string;
    localShape: readonly number[];
    start: number;
    end: number;
    param: Float32Array;
    expAvg: Float32Array;
    expAvgSq: Float32Array;
  }[];
  step: number;
  optimizerStepCount: number;
}

/**
 * The file of one ZeRO-1 shard: parameters and moments of its ranges of the primary tensors, each range cut into
 * boxes of the global tensors (flatRangeBoxes) stored under names of their own (`<tensor>@<local start>`), so
 * the pieces load into any layout and any zero setting like the pieces of a tensor-parallel shard.
 */
export function planZeroShard(
  content: ZeroShardContent,
  layout: ShardLayout,
  globalShapes: GlobalShapes,
): { file: string; tensors: NamedTensor[]; metadata: Record<string, string>; records: TensorRecord[] } {
  const { coord } = content;
  const file = zeroShardFile(coord, content.index);
  const tensors: NamedTensor[] = [];
  const recs: TensorRecord[] = [];
  for (const p of content.pieces) {
    const shard = shardFor({ name: p.name, shape: [...p.localShape], data: p.param }, p.name, globalShapes, layout, coord);
    if (!shard.primary) continue;
    for (const box of flatRangeBoxes(shard, p.start, p.end)) {
      const at = box.localStart - p.start;
      for (const [kind, name, data] of [
        ["param", p.name, p.param],
        ["optimizer", `${p.name}.exp_avg`, p.expAvg],
        ["optimizer", `${p.name}.exp_avg_sq`, p.expAvgSq],
      ] as const) {
        const entry = `${name}@${box.localStart}`;
        tensors.push({ name: entry, shape: [...box.shape], data: data.subarray(at, at + box.length) });
        recs.push({
          name,
          kind,
          file,
          dtype: "F32",
          globalShape: [...shard.globalShape],
          shape: [...box.shape],
          offset: [...box.offset],
          entry,
        });
      }
    }
  }
  const metadata = {
    step: String(content.step),
    format: MANIFEST_FORMAT,
    stage: String(coord.stage),
    tp_rank: String(coord.tpRank),
    zero_shard: String(content.index),
    optimizer_step_count: String(content.optimizerStepCount),
  };
  return { file, tensors, metadata, records: recs };
}

/** Global shapes by parameter name (e.g. from gptParameterLayout(config)). */
export type GlobalShapes = ReadonlyMap<string, readonly number[]>;

function shardFor(t: NamedTensor, paramName: string, globalShapes: GlobalShapes, layout: ShardLayout, coord: ShardCoord): TensorShard {
  const globalShape = globalShapes.get(paramName);
  if (!globalShape) throw new ShardWriteError(`tensor ${t.name}: no parameter ${paramName} in the model`);
  const shard = shardOf(paramName, globalShape, layout, coord);
  const where = `stage ${coord.stage}, tp rank ${coord.tpRank}`;
  if (!shard.holds) throw new ShardWriteError(`tensor ${t.name}: ${where} does not hold ${paramName} in this layout`);
  if (shard.localShape.join(",") !== t.shape.join(",")) {
    throw new ShardWriteError(`tensor ${t.name}: local shape [${t.shape}] on ${where}, the layout gives [${shard.localShape}]`);
  }
  return shard;
}

function records(tensors: readonly { t: NamedTensor; shard: TensorShard }[], kind: TensorRecord["kind"], file: string): TensorRecord[] {
  return tensors.flatMap(({ t, shard }) =>
    localBlockRanges(shard).map((r) => ({
      name: t.name,
      kind,
      file,
      dtype: "F32" as const,
      globalShape: [...shard.globalShape],
      shape: [...r.block.shape],
      offset: [...r.block.globalOffset],
      ...(r.localRow !== 0 ? { localOffset: r.localRow } : {}),
    })),
  );
}

/** This rank's two shard files (names, the primary tensors, metadata) and one record per piece of the global tensors. */
export function planCheckpointShard(
  content: ShardContent,
  layout: ShardLayout,
  globalShapes: GlobalShapes,
): { files: { file: string; tensors: NamedTensor[]; metadata: Record<string, string> }[]; tensors: TensorRecord[] } {
  const { coord } = content;
  const pick = (tensors: readonly NamedTensor[], nameOf: (n: string) => string) =>
    tensors.map((t) => ({ t, shard: shardFor(t, nameOf(t.name), globalShapes, layout, coord) })).filter((x) => x.shard.primary);
  const params = pick(content.params, (n) => n);
  const moments = pick(content.optimizerState, paramNameOf);
  const meta = { step: String(content.step), format: MANIFEST_FORMAT, stage: String(coord.stage), tp_rank: String(coord.tpRank) };
  const modelFile = modelShardFile(coord);
  const optimizerFile = optimizerShardFile(coord);
  return {
    files: [
      { file: modelFile, tensors: params.map((x) => x.t), metadata: meta },
      {
        file: optimizerFile,
        tensors: moments.map((x) => x.t),
        metadata: { ...meta, optimizer_step_count: String(content.optimizerStepCount) },
      },
    ],
    tensors: [...records(params, "param", modelFile), ...records(moments, "optimizer", optimizerFile)],
  };
}

/** Writes this rank's two shard files into `dir` (the staging folder, fsynced) and describes them. */
export function writeCheckpointShard(
  dir: string,
  content: ShardContent,
  layout: ShardLayout,
  globalShapes: GlobalShapes,
): ShardDescription {
  const plan = planCheckpointShard(content, layout, globalShapes);
  mkdirSync(dir, { recursive: true }); // ranks may start writing before they see the folder another rank prepared
  const files = plan.files.map(({ file, tensors, metadata }) => {
    const full = path.join(dir, file);
    const sha256 = writeSafetensors(full, tensors, metadata);
    return { file, bytes: statSync(full).size, sha256 };
  });
  return { coord: { ...content.coord }, files, tensors: plan.tensors };
}
