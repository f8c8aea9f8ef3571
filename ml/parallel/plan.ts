// A whole parallel plan: rank layout, layer split, placements and their traffic, side by side.
import { stepTraffic, type StepTraffic } from "./cost-model.ts";
import { balancedLayerSplit, uniformLayerSplit, type LayerSplit } from "./layer-split.ts";
import { embeddingFlopsPerToken, headFlopsPerToken, layerFlopsPerToken, type ModelShape } from "./model-shape.ts";
import { groupOnOneHost, naivePlacement, topologyAwarePlacement, type ClusterShape, type Placement } from "./placement.ts";
import { estimateSchedule, type ScheduleEstimate } from "./schedule-estimate.ts";
import type { TransferOrder } from "./schedules.ts";
import type { ScheduleKind } from "./schedule-types.ts";
import { MEGATRON_ORDER, rankLayout, type AxisOrder, type ParallelSizes, type RankLayout } from "./ranks.ts";
import { InvalidLayoutError } from "./errors.ts";

export interface PlanRequest {
  model: ModelShape;
  batch: { size: number; microBatch: number };
  sizes: ParallelSizes;
  order?: AxisOrder;
  cluster: ClusterShape;
  /** bytes per activation and gradient element (default 4, fp32) */
  bytesPerElement?: number;
  /** also estimate this pipeline schedule's bubble on the plan's layer split */
  schedule?: { kind: ScheduleKind; virtualStages?: number; transfers?: TransferOrder };
}

export interface PlacementReport {
  placement: Placement;
  traffic: StepTraffic;
  tpGroupsInOneHost: number;
}

export interface Plan {
  layout: RankLayout;
  microbatches: number;
  split: LayerSplit;
  uniformSplit: LayerSplit;
  topology: PlacementReport;
  naive: PlacementReport;
  schedule?: ScheduleEstimate;
}

export function planJob(req: PlanRequest): Plan {
  const layout = rankLayout(req.sizes, req.order ?? MEGATRON_ORDER);
  const { size, microBatch } = req.batch;
  if (size % (req.sizes.dp * microBatch) !== 0) {
    throw new InvalidLayoutError(`global batch ${size} is not a multiple of dp × microBatch = ${req.sizes.dp} × ${microBatch}`);
  }
  const microbatches = size / (req.sizes.dp * microBatch);
  const costs = {
    layer: layerFlopsPerToken(req.model),
    embedding: embeddingFlopsPerToken(req.model),
    head: headFlopsPerToken(req.model),
  };
  const split = balancedLayerSplit(req.model.layers, req.sizes.pp, costs);
  const bytes = req.bytesPerElement ?? 4;
  const report = (placement: Placement): PlacementReport => ({
    placement,
    traffic: stepTraffic(layout, placement, {
      model: req.model,
      microBatch,
      microbatches,
      layersPerStage: split.layersPerStage,
      activationBytes: bytes,
      gradBytes: bytes,
    }),
    tpGroupsInOneHost: layout.tpGroups.filter((g) => groupOnOneHost(placement, g)).length,
  });
  return {
    layout,
    microbatches,
    split,
    uniformSplit: uniformLayerSplit(req.model.layers, req.sizes.pp, costs),
    topology: report(topologyAwarePlacement(layout, req.cluster)),
    naive: report(naivePlacement(layout, req.cluster)),
    schedule: req.schedule
      ? estimateSchedule(
          req.schedule.kind,
          req.model.layers,
          req.sizes.pp,
          microbatches,
          costs,
          req.schedule.virtualStages ?? 1,
          req.schedule.transfers ?? "rendezvous",
        )
      : undefined,
  };
}
