// Public face of the 3D-parallel foundations: rank map, placement and traffic, layer split, pipeline schedules.
export {
  axisStrides,
  coordOf,
  groupsAlong,
  groupsOfRank,
  InvalidLayoutError,
  MEGATRON_ORDER,
  parseAxisOrder,
  rankLayout,
  rankOf,
  type Axis,
  type AxisOrder,
  type ParallelSizes,
  type RankCoord,
  type RankLayout,
} from "./ranks.ts";
export { groupOnOneHost, naivePlacement, ranksByHost, topologyAwarePlacement, type ClusterShape, type Placement, type Slot } from "./placement.ts";
export { stepTraffic, type LinkBytes, type StepShape, type StepTraffic, type TrafficKind } from "./cost-model.ts";
export { layerShardParams, stageShardParams, vocabShardRows, type ModelShape } from "./model-shape.ts";
export { balancedLayerSplit, uniformLayerSplit, type LayerCosts, type LayerSplit } from "./layer-split.ts";
export { planJob, type Plan, type PlanRequest } from "./plan.ts";
export { pipelineSchedule, pipelineSchedules, validateScheduleShape, type TransferOrder } from "./schedules.ts";
export { formatInstruction, virtualStageOf, type Instruction, type ScheduleKind, type ScheduleShape } from "./schedule-types.ts";
export {
  bubbleFormula,
  ScheduleDeadlockError,
  ScheduleDependencyError,
  simulateSchedules,
  type SimulationCosts,
  type SimulationResult,
} from "./schedule-simulator.ts";
