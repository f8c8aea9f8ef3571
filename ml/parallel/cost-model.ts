// Bytes each link class carries in one training step, for a layout, a placement and a model shape.
// Collectives are modelled as rings over the group in group order (as NCCL runs them): an all-reduce of N bytes
// on n ranks sends 2(n−1)/n·N bytes over every ring edge (rank i → rank i+1 mod n).
import type { Placement } from "./placement.ts";
import type { RankLayout } from "./ranks.ts";
import { stageShardParams, validateModelShape, type ModelShape } from "./model-shape.ts";
import { InvalidLayoutError } from "./errors.ts";

export interface StepShape {
  model: ModelShape;
  /** sequences per micro-batch (b) */
  microBatch: number;
  /** micro-batches per replica per step (m) */
  microbatches: number;
  /** layersPerStage[stage]; length pp */
  layersPerStage: readonly number[];
  /** bytes per activation element (4 for fp32, 2 for bf16) */
  activationBytes: number;
  /** bytes per gradient element in the data-parallel all-reduce */
  gradBytes: number;
}

type TrafficKind = "tp" | "pp" | "dp" | "tiedEmbedding" | "vocabLoss";
type LinkClass = "sameHost" | "otherHost";
type LinkBytes = Record<LinkClass, number>;

export interface StepTraffic {
  total: LinkBytes;
  byKind: Record<TrafficKind, LinkBytes>;
}

const KINDS: readonly TrafficKind[] = ["tp", "pp", "dp", "tiedEmbedding", "vocabLoss"];

function validate(layout: RankLayout, shape: StepShape): void {
  validateModelShape(shape.model);
  for (const [k, v] of [
    ["microBatch", shape.microBatch],
    ["microbatches", shape.microbatches],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new InvalidLayoutError(`${k} must be a positive integer, got ${v}`);
  }
  if (shape.layersPerStage.length !== layout.sizes.pp) {
    throw new InvalidLayoutError(`layersPerStage has ${shape.layersPerStage.length} entries for pp = ${layout.sizes.pp}`);
  }
  const sum = shape.layersPerStage.reduce((a, b) => a + b, 0);
  if (sum !== shape.model.layers) throw new InvalidLayoutError(`layersPerStage sums to ${sum}, the model has ${shape.model.layers} layers`);
}

/** Link traffic of one step. */
export function stepTraffic(layout: RankLayout, placement: Placement, shape: StepShape): StepTraffic {
  validate(layout, shape);
  const byKind = Object.fromEntries(KINDS.map((k) => [k, { sameHost: 0, otherHost: 0 }])) as Record<TrafficKind, LinkBytes>;
  const hostOf = (r: number) => placement.slots[r]!.host;
  const link = (kind: TrafficKind, from: number, to: number, bytes: number) => {
    byKind[kind][hostOf(from) === hostOf(to) ? "sameHost" : "otherHost"] += bytes;
  };
  const ring = (kind: TrafficKind, group: readonly number[], bytes: number) => {
    const n = group.length;
    if (n < 2 || bytes === 0) return;
    for (let i = 0; i < n; i++) link(kind, group[i]!, group[(i + 1) % n]!, (2 * (n - 1) * bytes) / n);
  };

  const { model, microBatch: b, microbatches: m } = shape;
  const { pp, tp } = layout.sizes;
  const act = b * model.seqLen * model.dModel * shape.activationBytes;
  const last = pp - 1;

  for (const group of layout.tpGroups) {
    const stage = layout.coords[group[0]!]!.pp;
    // 2 all-reduces forward + 2 backward per layer; the vocab-parallel embedding all-reduces its output (forward)
    // and the column-parallel head all-reduces its input gradient (backward).
    const count = 4 * shape.layersPerStage[stage]! + (stage === 0 ? 1 : 0) + (stage === last ? 1 : 0);
    ring("tp", group, count * m * act); // traffic is linear in the bytes reduced
    // vocab-parallel cross-entropy: max, target logit and sum-exp over [b, s] in fp32
    if (stage === last) ring("vocabLoss", group, 3 * m * b * model.seqLen * 4);
  }
  for (const group of layout.ppGroups) {
    for (let s = 0; s + 1 < group.length; s++) {
      link("pp", group[s]!, group[s + 1]!, m * act); // activations forward
      link("pp", group[s + 1]!, group[s]!, m * act); // their gradients backward
    }
  }
  for (const group of layout.dpGroups) {
    const { pp: stage } = layout.coords[group[0]!]!;
    ring("dp", group, stageShardParams(model, tp, stage, pp, shape.layersPerStage[stage]!) * shape.gradBytes);
  }
  for (const group of layout.embeddingGroups) {
    ring("tiedEmbedding", group, Math.ceil(model.vocabSize / tp) * model.dModel * shape.gradBytes);
  }
  const total = { sameHost: 0, otherHost: 0 };
  for (const k of KINDS) {
    total.sameHost += byKind[k].sameHost;
    total.otherHost += byKind[k].otherHost;
  }
  return { total, byKind };
}
