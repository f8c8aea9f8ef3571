import { InvalidLayoutError } from "./errors.ts";
// The rank map: (dp, pp, tp) sizes and an axis order → coordinates and communication groups.
// Pure: the same inputs always give the same layout; nothing is stored between calls.

/** The three parallel axes: data, pipeline, tensor. */
type Axis = "dp" | "pp" | "tp";

export interface ParallelSizes {
  dp: number;
  pp: number;
  tp: number;
}

/** Where one rank sits: data replica, pipeline stage, tensor shard. */
export type RankCoord = Record<Axis, number>;

/** Axes from fastest-varying to slowest (Megatron's convention for its order strings). */
export type AxisOrder = readonly [Axis, Axis, Axis];

/** Megatron's default `tp-dp-pp`: rank = t + TP·d + TP·DP·p. */
export const MEGATRON_ORDER: AxisOrder = ["tp", "dp", "pp"];

export interface RankLayout {
  readonly sizes: Readonly<ParallelSizes>;
  readonly order: AxisOrder;
  readonly worldSize: number;
  /** coords[rank] */
  readonly coords: readonly Readonly<RankCoord>[];
  /** Each group lists its ranks ordered by the coordinate along the group's axis. */
  readonly tpGroups: readonly (readonly number[])[];
  readonly ppGroups: readonly (readonly number[])[];
  readonly dpGroups: readonly (readonly number[])[];
  /** {first stage, last stage} of each (d, t), for tied-embedding gradients; one rank when pp = 1. */
  readonly embeddingGroups: readonly (readonly number[])[];
}

const AXES: readonly Axis[] = ["dp", "pp", "tp"];

function validate(sizes: ParallelSizes, order: AxisOrder): void {
  for (const axis of AXES) {
    const n = sizes[axis];
    if (!Number.isInteger(n) || n < 1) {
      throw new InvalidLayoutError(`${axis} size must be a positive integer, got ${String(n)}`);
    }
  }
  if (order.length !== 3 || new Set(order).size !== 3 || !order.every((a) => AXES.includes(a))) {
    throw new InvalidLayoutError(`axis order must name tp, dp and pp once each, got [${order.join(", ")}]`);
  }
}

/** Stride of each axis in rank space for the given order (fastest axis has stride 1). */
function axisStrides(sizes: ParallelSizes, order: AxisOrder = MEGATRON_ORDER): RankCoord {
  validate(sizes, order);
  const strides = { dp: 0, pp: 0, tp: 0 };
  let stride = 1;
  for (const axis of order) {
    strides[axis] = stride;
    stride *= sizes[axis];
  }
  return strides;
}

/** The rank at a coordinate. Throws if the coordinate is outside the sizes. */
export function rankOf(coord: RankCoord, sizes: ParallelSizes, order: AxisOrder = MEGATRON_ORDER): number {
  const strides = axisStrides(sizes, order);
  let rank = 0;
  for (const axis of AXES) {
    const c = coord[axis];
    if (!Number.isInteger(c) || c < 0 || c >= sizes[axis]) {
      throw new InvalidLayoutError(`${axis} coordinate ${String(c)} is outside 0..${sizes[axis] - 1}`);
    }
    rank += c * strides[axis];
  }
  return rank;
}

/** The coordinate of a rank. Throws if the rank is outside the world. */
export function coordOf(rank: number, sizes: ParallelSizes, order: AxisOrder = MEGATRON_ORDER): RankCoord {
  validate(sizes, order);
  const world = sizes.dp * sizes.pp * sizes.tp;
  if (!Number.isInteger(rank) || rank < 0 || rank >= world) {
    throw new InvalidLayoutError(`rank ${String(rank)} is outside 0..${world - 1}`);
  }
  const coord = { dp: 0, pp: 0, tp: 0 };
  let rest = rank;
  for (const axis of order) {
    coord[axis] = rest % sizes[axis];
    rest = Math.floor(rest / sizes[axis]);
  }
  return coord;
}

/**
 * Groups varying along `axis`: the ranks that agree on the other two coordinates, each group ordered by its
 * coordinate along `axis`; groups are listed in order of their first rank.
 */
function groupsAlong(axis: Axis, sizes: ParallelSizes, order: AxisOrder = MEGATRON_ORDER): number[][] {
  const world = sizes.dp * sizes.pp * sizes.tp;
  const byKey = new Map<string, number[]>();
  for (let rank = 0; rank < world; rank++) {
    const c = coordOf(rank, sizes, order);
    const key = AXES.filter((a) => a !== axis)
      .map((a) => c[a])
      .join(",");
    let group = byKey.get(key);
    if (!group) byKey.set(key, (group = new Array<number>(sizes[axis])));
    group[c[axis]] = rank;
  }
  return [...byKey.values()].sort((a, b) => Math.min(...a) - Math.min(...b));
}

/**
 * The whole layout of a (dp, pp, tp) job.
 *
 * Worked example 1 — Megatron order (tp fastest, then dp, then pp), dp = 2, pp = 2, tp = 2, 8 ranks:
 *   rank = t + 2·d + 4·p, so rank 5 is (d=0, p=1, t=1).
 *   TP groups  [0,1] [2,3] [4,5] [6,7]      (same d, p — adjacent ranks, keep them inside a host)
 *   DP groups  [0,2] [1,3] [4,6] [5,7]      (same p, t — stride TP)
 *   PP groups  [0,4] [1,5] [2,6] [3,7]      (same d, t — stride TP·DP, ordered by stage)
 *   embedding  [0,4] [1,5] [2,6] [3,7]      (first and last stage of each PP group)
 *
 * Worked example 2 — dp = 1, pp = 4, tp = 2: PP groups [0,2,4,6] and [1,3,5,7]; embedding groups [0,6] and
 *   [1,7] (stages in between hold no embedding).
 *
 * Worked example 3 — DeepSpeed's PipeModelDataParallelTopology is axes ['pipe','data','model'] row-major, i.e.
 *   order ["tp", "dp", "pp"] here: the same map as Megatron's default.
 *
 * Worked example 4 — MT-NLG 530B: tp = 8, pp = 35, dp = 8 on 2,240 GPUs. Rank 8·d + 64·p + t; every TP group is 8
 *   consecutive ranks (one DGX node), a PP group steps 64 ranks (8 nodes) between stages.
 */
export function rankLayout(sizes: ParallelSizes, order: AxisOrder = MEGATRON_ORDER): RankLayout {
  validate(sizes, order);
  const worldSize = sizes.dp * sizes.pp * sizes.tp;
  const coords = Array.from({ length: worldSize }, (_, r) => Object.freeze(coordOf(r, sizes, order)));
  const ppGroups = groupsAlong("pp", sizes, order);
  const embeddingGroups = ppGroups.map((g) => (g.length === 1 ? [g[0]!] : [g[0]!, g[g.length - 1]!]));
  return Object.freeze({
    sizes: Object.freeze({ dp: sizes.dp, pp: sizes.pp, tp: sizes.tp }),
    order,
    worldSize,
    coords,
    tpGroups: groupsAlong("tp", sizes, order),
    ppGroups,
    dpGroups: groupsAlong("dp", sizes, order),
    embeddingGroups,
  });
}

/** The groups one rank belongs to (embedding is undefined for middle stages). */
export function groupsOfRank(
  layout: RankLayout,
  rank: number,
): { tp: readonly number[]; pp: readonly number[]; dp: readonly number[]; embedding?: readonly number[] } {
  if (!Number.isInteger(rank) || rank < 0 || rank >= layout.worldSize) {
    throw new InvalidLayoutError(`rank ${String(rank)} is outside 0..${layout.worldSize - 1}`);
  }
  const find = (groups: readonly (readonly number[])[]) => groups.find((g) => g.includes(rank));
  return {
    tp: find(layout.tpGroups)!,
    pp: find(layout.ppGroups)!,
    dp: find(layout.dpGroups)!,
    embedding: find(layout.embeddingGroups),
  };
}

/** Parses "tp-dp-pp" (fastest first, Megatron spelling) into an AxisOrder. */
export function parseAxisOrder(text: string): AxisOrder {
  const parts = text.split(/[-,\s]+/).filter(Boolean);
  const order = parts as unknown as AxisOrder;
  validate({ dp: 1, pp: 1, tp: 1 }, order);
  return order;
}
