// The bubble a pipeline schedule would have for a real model split: each pass costs its stage's share of the
// model (FLOPs per token from the balanced layer split), backward twice the forward.
import { balancedLayerSplit, type LayerCosts } from "./layer-split.ts";
import { bubbleFormula, simulateSchedules } from "./schedule-simulator.ts";
import { pipelineSchedules, type TransferOrder } from "./schedules.ts";
import type { Instruction, ScheduleKind } from "./schedule-types.ts";

export interface ScheduleEstimate {
  kind: ScheduleKind;
  virtualStages: number;
  transfers: TransferOrder;
  /** simulated idle fraction with this split's stage costs */
  bubble: number;
  /** (p−1)/(v·m+p−1): equal stages */
  formula: number;
  /** most micro-batches whose activations stage 0 holds at once (memory) */
  peakInFlightStage0: number;
}

function peakInFlight(list: readonly Instruction[]): number {
  let live = 0;
  let peak = 0;
  for (const i of list) {
    if (i.op === "forward") peak = Math.max(peak, ++live);
    else if (i.op === "backward") live--;
  }
  return peak;
}

export function estimateSchedule(
  kind: ScheduleKind,
  layers: number,
  stages: number,
  microbatches: number,
  costs: LayerCosts,
  virtualStages = 1,
  transfers: TransferOrder = "rendezvous",
): ScheduleEstimate {
  const lists = pipelineSchedules(kind, stages, microbatches, virtualStages, transfers);
  // one contiguous run of layers per virtual stage (chunk c of stage s is virtual stage c·p + s)
  const split = balancedLayerSplit(layers, stages * virtualStages, costs);
  const cost = (s: number, c: number) => split.stageCost[c * stages + s]!;
  const result = simulateSchedules(
    lists,
    { stages, microbatches, virtualStages },
    {
      mode: transfers === "eager" ? "buffered" : "rendezvous",
      costs: { forward: (s, c) => cost(s, c), backward: (s, c) => 2 * cost(s, c) },
    },
  );
  return {
    kind,
    virtualStages,
    transfers,
    bubble: result.bubbleFraction,
    formula: bubbleFormula(stages, microbatches, virtualStages),
    peakInFlightStage0: peakInFlight(lists[0]!),
  };
}
