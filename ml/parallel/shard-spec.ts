// Which pieces of each global parameter tensor one (pipeline stage, tensor-parallel rank) holds: Megatron's split.
//
// Rules (d = dModel, H = heads, V = vocab, tp shards indexed t):
//   h.{i}.attn.qkv.weight [3d, d]  column-parallel per head group: rank t holds heads [t·H/tp, (t+1)·H/tp) of q, of k
//                                  and of v → 3 row blocks of [d/tp, d], stored q|k|v → local [3d/tp, d]. bias alike.
//   h.{i}.mlp.fc.weight [4d, d]    column-parallel: rows [t·4d/tp, (t+1)·4d/tp). bias alike.
//   h.{i}.attn.proj.weight [d, d]  row-parallel: columns [t·d/tp, (t+1)·d/tp) (its input is the sharded heads).
//   h.{i}.mlp.proj.weight [d, 4d]  row-parallel: columns [t·4d/tp, (t+1)·4d/tp).
//   h.{i}.attn.proj.bias, h.{i}.mlp.proj.bias, LayerNorms, wpe, lnf: replicated (whole on every tp rank).
//   wte [V, d]                     vocab-parallel: rows [t·V/tp, (t+1)·V/tp), on the first stage (embedding) and on
//                                  the last stage (tied LM head); the embedding group keeps both copies equal.
// Layers go to stages as contiguous runs given by `layersPerStage` (see layer-split.ts).
//
// `primary` marks the one copy of each global element that a checkpoint saves: replicated tensors on tp rank 0
// only, wte on the first stage only. The primary blocks of all ranks cover every element exactly once.
//
// Worked examples, d = 8, H = 2, V = 12, 4 layers, layout { tp: 2, pp: 2, layersPerStage: [2, 2], heads: 2 }:
//   shardOf("h.1.attn.qkv.weight", [24, 8], layout, { stage: 0, tpRank: 1 })
//     → holds, kind "qkv", blocks [{globalOffset [4,0], shape [4,8]}, {[12,0], [4,8]}, {[20,0], [4,8]}],
//       localShape [12, 8]
//   shardOf("h.1.attn.qkv.weight", [24, 8], layout, { stage: 1, tpRank: 0 }) → holds false (layer 1 is on stage 0)
//   shardOf("h.2.mlp.proj.weight", [8, 32], layout, { stage: 1, tpRank: 1 })
//     → kind "row", blocks [{globalOffset [0,16], shape [8,16]}], localShape [8, 16]
//   shardOf("wte", [12, 8], layout, { stage: 1, tpRank: 1 })
//     → kind "vocab", blocks [{globalOffset [6,0], shape [6,8]}], primary false (the tied copy)
//   shardOf("h.3.ln2.bias", [8], layout, { stage: 1, tpRank: 1 }) → kind "replicated", blocks [{[0], [8]}], primary false
import { ShardSpecError } from "./errors.ts";

export interface ShardLayout {
  tp: number;
  pp: number;
  /** Transformer layers per pipeline stage (length pp, every entry ≥ 1). */
  layersPerStage: readonly number[];
  /** Attention heads (qkv is split by head groups). */
  heads: number;
}

export interface ShardCoord {
  stage: number;
  tpRank: number;
}

/** A box of the global tensor: starts at globalOffset, extends by shape (row-major, same rank as the tensor). */
export interface ShardBlock {
  globalOffset: number[];
  shape: number[];
}

/** How a tensor is split across the tp group. */
type ShardKind = "qkv" | "column" | "row" | "vocab" | "replicated";

export interface TensorShard {
  name: string;
  globalShape: number[];
  kind: ShardKind;
  /** false: this rank holds nothing of the tensor (blocks empty). */
  holds: boolean;
  /** Every tp rank holds the whole tensor. */
  replicated: boolean;
  /** This rank's copy is the one a checkpoint saves (see the file comment). */
  primary: boolean;
  /** Pieces of the global tensor in local storage order; several blocks are stacked along dimension 0. */
  blocks: ShardBlock[];
  /** Shape of the local tensor (blocks stacked along dimension 0). */
  localShape: number[];
}

const LAYER_NAME = /^h\.(\d+)\.(.+)$/;

function checkInt(what: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new ShardSpecError(`${what} must be an integer ≥ ${min}, got ${String(v)}`);
}

function validateShardLayout(layout: ShardLayout): void {
  checkInt("tp", layout.tp, 1);
  checkInt("pp", layout.pp, 1);
  checkInt("heads", layout.heads, 1);
  if (layout.layersPerStage.length !== layout.pp) {
    throw new ShardSpecError(`layersPerStage has ${layout.layersPerStage.length} entries, expected pp = ${layout.pp}`);
  }
  layout.layersPerStage.forEach((n, s) => checkInt(`layersPerStage[${s}]`, n, 1));
  if (layout.heads % layout.tp !== 0)
    throw new ShardSpecError(`${layout.heads} attention heads cannot be split evenly over tp = ${layout.tp}`);
}

/** The pipeline stage that holds transformer layer `layer`. */
export function stageOfLayer(layer: number, layersPerStage: readonly number[]): number {
  let first = 0;
  for (let s = 0; s < layersPerStage.length; s++) {
    first += layersPerStage[s]!;
    if (layer < first) return s;
  }
  throw new ShardSpecError(`layer ${layer} is beyond the ${first} layers of the layer split [${layersPerStage.join(", ")}]`);
}

function stackedShape(blocks: readonly ShardBlock[]): number[] {
  if (blocks.length === 0) return [];
  const shape = [...blocks[0]!.shape];
  for (const b of blocks.slice(1)) shape[0]! += b.shape[0]!;
  return shape;
}

function evenPart(what: string, name: string, size: number, tp: number): number {
  if (size % tp !== 0) throw new ShardSpecError(`${name}: ${what} ${size} cannot be split evenly over tp = ${tp}`);
  return size / tp;
}

function expectRank(name: string, shape: readonly number[], rank: number): void {
  if (shape.length !== rank) throw new ShardSpecError(`${name}: expected a ${rank}-d tensor, got shape [${shape.join(", ")}]`);
}

/** Blocks and kind for a tensor that this stage holds. */
function split(
  name: string,
  shape: readonly number[],
  local: string,
  tp: number,
  t: number,
  heads: number,
): { kind: ShardKind; blocks: ShardBlock[] } {
  const whole = { kind: "replicated" as const, blocks: [{ globalOffset: shape.map(() => 0), shape: [...shape] }] };
  const rows = () => {
    const n = evenPart("output dimension", name, shape[0]!, tp);
    return [{ globalOffset: shape.map((_, i) => (i === 0 ? t * n : 0)), shape: shape.map((s, i) => (i === 0 ? n : s)) }];
  };
  if (local === "attn.qkv.weight" || local === "attn.qkv.bias") {
    expectRank(name, shape, local.endsWith("weight") ? 2 : 1);
    if (shape[0]! % 3 !== 0) throw new ShardSpecError(`${name}: dimension 0 (${shape[0]}) is not 3·dModel`);
    const d = shape[0]! / 3;
    if (d % heads !== 0) throw new ShardSpecError(`${name}: dModel ${d} is not a multiple of ${heads} heads`);
    const n = (d / heads) * (heads / tp); // rows of one head group
    return {
      kind: "qkv",
      blocks: [0, 1, 2].map((part) => ({
        globalOffset: shape.map((_, i) => (i === 0 ? part * d + t * n : 0)),
        shape: shape.map((s, i) => (i === 0 ? n : s)),
      })),
    };
  }
  if (local === "mlp.fc.weight" || local === "mlp.fc.bias") {
    expectRank(name, shape, local.endsWith("weight") ? 2 : 1);
    return { kind: "column", blocks: rows() };
  }
  if (local === "attn.proj.weight" || local === "mlp.proj.weight") {
    expectRank(name, shape, 2);
    const n = evenPart("input dimension", name, shape[1]!, tp);
    return { kind: "row", blocks: [{ globalOffset: [0, t * n], shape: [shape[0]!, n] }] };
  }
  if (/^(ln[12]\.(weight|bias)|attn\.proj\.bias|mlp\.proj\.bias)$/.test(local)) return whole;
  throw new ShardSpecError(`unknown parameter name ${name}`);
}

/** What (stage, tpRank) of `layout` holds of the global tensor `name` of shape `globalShape`. */
export function shardOf(name: string, globalShape: readonly number[], layout: ShardLayout, coord: ShardCoord): TensorShard {
  validateShardLayout(layout);
  checkInt("stage", coord.stage, 0);
  checkInt("tpRank", coord.tpRank, 0);
  if (coord.stage >= layout.pp) throw new ShardSpecError(`stage ${coord.stage} is outside pp = ${layout.pp}`);
  if (coord.tpRank >= layout.tp) throw new ShardSpecError(`tpRank ${coord.tpRank} is outside tp = ${layout.tp}`);
  globalShape.forEach((n, i) => checkInt(`${name}: dimension ${i}`, n, 1));
  const { tp, pp } = layout;
  const t = coord.tpRank;
  const last = pp - 1;
  let holds: boolean;
  let tiedCopy = false;
  let kind: ShardKind;
  let blocks: ShardBlock[];
  const layerMatch = LAYER_NAME.exec(name);
  if (layerMatch) {
    holds = stageOfLayer(Number(layerMatch[1]), layout.layersPerStage) === coord.stage;
    ({ kind, blocks } = split(name, globalShape, layerMatch[2]!, tp, t, layout.heads));
  } else if (name === "wte") {
    expectRank(name, globalShape, 2);
    const n = evenPart("vocabulary", name, globalShape[0]!, tp);
    holds = coord.stage === 0 || coord.stage === last;
    tiedCopy = coord.stage !== 0;
    kind = "vocab";
    blocks = [{ globalOffset: [t * n, 0], shape: [n, globalShape[1]!] }];
  } else if (name === "wpe" || name === "lnf.weight" || name === "lnf.bias") {
    holds = name === "wpe" ? coord.stage === 0 : coord.stage === last;
    kind = "replicated";
    blocks = [{ globalOffset: globalShape.map(() => 0), shape: [...globalShape] }];
  } else {
    throw new ShardSpecError(`unknown parameter name ${name}`);
  }
  const replicated = kind === "replicated";
  if (!holds) blocks = [];
  return {
    name,
    globalShape: [...globalShape],
    kind,
    holds,
    replicated,
    primary: holds && !tiedCopy && !(replicated && t !== 0),
    blocks,
    localShape: stackedShape(blocks),
  };
}

/** The shards a rank holds of a whole parameter list (e.g. gptParameterLayout(config)), in the list's order. */
export function rankShards(
  params: readonly { name: string; shape: readonly number[] }[],
  layout: ShardLayout,
  coord: ShardCoord,
): TensorShard[] {
  return params.map((p) => shardOf(p.name, p.shape, layout, coord)).filter((s) => s.holds);
}
