// Assigns the transformer layers to pipeline stages (contiguous runs), balancing the per-stage cost when the
// first stage also carries the embedding and the last the LM head and loss.
import { InvalidLayoutError } from "./errors.ts";

export interface LayerCosts {
  /** cost of one transformer layer (any unit, e.g. FLOPs per token) */
  layer: number;
  /** extra cost on the first stage (embedding) */
  embedding: number;
  /** extra cost on the last stage (LM head and cross-entropy) */
  head: number;
}

export interface LayerSplit {
  /** layersPerStage[stage] */
  layersPerStage: number[];
  /** firstLayer[stage]: index of the stage's first layer */
  firstLayer: number[];
  /** stageCost[stage] in the unit of LayerCosts */
  stageCost: number[];
  /** slowest stage over the mean stage: 1 is perfect balance; a pipeline runs at the pace of its slowest stage */
  imbalance: number;
}

function validate(layers: number, stages: number, costs: LayerCosts): void {
  if (!Number.isInteger(stages) || stages < 1) throw new InvalidLayoutError(`stages must be a positive integer, got ${stages}`);
  if (!Number.isInteger(layers) || layers < stages) {
    throw new InvalidLayoutError(`${layers} layers cannot fill ${stages} pipeline stages (each stage needs at least one layer)`);
  }
  for (const [k, v] of Object.entries(costs)) {
    if (!Number.isFinite(v) || v < 0) throw new InvalidLayoutError(`layer cost ${k} must be a finite number ≥ 0, got ${v}`);
  }
  if (!(costs.layer > 0)) throw new InvalidLayoutError("layer cost must be positive");
}

function extraCost(stage: number, stages: number, costs: LayerCosts): number {
  return (stage === 0 ? costs.embedding : 0) + (stage === stages - 1 ? costs.head : 0);
}

function describe(layersPerStage: number[], costs: LayerCosts): LayerSplit {
  const stages = layersPerStage.length;
  const stageCost = layersPerStage.map((n, i) => n * costs.layer + extraCost(i, stages, costs));
  const firstLayer = layersPerStage.map((_, i) => layersPerStage.slice(0, i).reduce((a, b) => a + b, 0));
  const mean = stageCost.reduce((a, b) => a + b, 0) / stages;
  return { layersPerStage, firstLayer, stageCost, imbalance: Math.max(...stageCost) / mean };
}

/** Equal layer counts (the first `layers mod stages` stages get one more), ignoring embedding and head. */
export function uniformLayerSplit(layers: number, stages: number, costs: LayerCosts): LayerSplit {
  validate(layers, stages, costs);
  const base = Math.floor(layers / stages);
  const extra = layers % stages;
  return describe(
    Array.from({ length: stages }, (_, i) => base + (i < extra ? 1 : 0)),
    costs,
  );
}

/**
 * The split with the smallest slowest-stage cost, every stage holding at least one layer. Among equally slow
 * splits it takes layers away from the most loaded stages first (the later one on a tie), so the edge stages
 * shed layers for the embedding and the head.
 *
 * Example: 8 layers, 4 stages, layer 1, embedding 0, head 2 → [3, 2, 2, 1] (costs 3, 2, 2, 3).
 */
export function balancedLayerSplit(layers: number, stages: number, costs: LayerCosts): LayerSplit {
  validate(layers, stages, costs);
  const extras = Array.from({ length: stages }, (_, i) => extraCost(i, stages, costs));
  const capacity = (limit: number) => extras.map((e) => Math.floor((limit - e) / costs.layer + 1e-9));
  const candidates = [...new Set(extras.flatMap((e) => Array.from({ length: layers }, (_, k) => e + (k + 1) * costs.layer)))].sort(
    (a, b) => a - b,
  );
  for (const limit of candidates) {
    const caps = capacity(limit);
    if (caps.some((c) => c < 1) || caps.reduce((a, b) => a + b, 0) < layers) continue;
    const counts = caps.slice();
    let excess = counts.reduce((a, b) => a + b, 0) - layers;
    while (excess > 0) {
      let worst = -1;
      for (let i = 0; i < stages; i++) {
        if (counts[i]! <= 1) continue;
        const load = counts[i]! * costs.layer + extras[i]!;
        if (worst < 0 || load >= counts[worst]! * costs.layer + extras[worst]!) worst = i;
      }
      counts[worst]!--;
      excess--;
    }
    return describe(counts, costs);
  }
  throw new InvalidLayoutError("no layer split found"); // unreachable: limit = max extra + layers·layer always fits
}
