// Declarative pipeline instructions (DeepSpeed TrainSchedule style): a worker executes its list in order.
// `chunk` is the worker's local model chunk (always 0 without interleaving); the chunk on stage s is virtual
// stage chunk·stages + s. `peer` is the other stage of a send or receive.

export type ScheduleKind = "gpipe" | "1f1b" | "interleaved";

export type Instruction =
  /** read micro-batch inputs (first virtual stage) or targets (last virtual stage) */
  | { op: "load"; microbatch: number }
  | { op: "forward"; microbatch: number; chunk: number }
  | { op: "backward"; microbatch: number; chunk: number }
  | { op: "sendActivation"; microbatch: number; chunk: number; peer: number }
  | { op: "recvActivation"; microbatch: number; chunk: number; peer: number }
  | { op: "sendGrad"; microbatch: number; chunk: number; peer: number }
  | { op: "recvGrad"; microbatch: number; chunk: number; peer: number }
  /** all-reduce the tied embedding gradient between the first and the last stage */
  | { op: "reduceTiedGrads" }
  /** data-parallel gradient all-reduce over the replicas of this (stage, shard) */
  | { op: "reduceGrads" }
  | { op: "optimizerStep" };

export interface ScheduleShape {
  stages: number;
  microbatches: number;
  /** model chunks per stage (interleaved 1F1B); 1 otherwise */
  virtualStages: number;
}

/** Virtual stage of a local chunk: chunk 0 of every stage first, then chunk 1, … */
export function virtualStageOf(stage: number, chunk: number, stages: number): number {
  return chunk * stages + stage;
}

export function formatInstruction(i: Instruction): string {
  const parts: string[] = [i.op];
  if ("microbatch" in i) parts.push(`mb${i.microbatch}`);
  if ("chunk" in i) parts.push(`c${i.chunk}`);
  if ("peer" in i) parts.push(`${i.op.startsWith("send") ? "→" : "←"}s${i.peer}`);
  return parts.join(" ");
}
