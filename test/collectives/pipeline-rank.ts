// Executes one stage's pipeline instruction list over the CPU collectives, with a toy model per virtual stage.
import { rankLayout } from "../../ml/parallel/ranks.ts";
import { pipelineSchedule, type TransferOrder } from "../../ml/parallel/schedules.ts";
import { virtualStageOf, type ScheduleKind } from "../../ml/parallel/schedule-types.ts";
import { type CollectivesWorld } from "../../runtime/collectives/mod.ts";
import { groupsForRank } from "../../ml/parallel/rank-groups.ts";
import { testData, toyBackward, toyForward } from "./data.ts";

export interface PipelineArgs {
  kind: ScheduleKind;
  microbatches: number;
  virtualStages: number;
  transfers: TransferOrder;
  length: number;
}

/** Returns the weight gradient of each local chunk, and the tied (first + last virtual stage) gradient if any. */
export async function runPipelineStage(world: CollectivesWorld, a: PipelineArgs): Promise<{ wgrads: Float32Array[]; tied?: Float32Array }> {
  const p = world.size;
  const stage = world.rank;
  const { pp, embedding } = groupsForRank(world, rankLayout({ dp: 1, pp: p, tp: 1 }));
  const lastV = p * a.virtualStages - 1;
  const key = (mb: number, c: number) => `${mb}:${c}`;
  const inputs = new Map<string, Float32Array>();
  const outputs = new Map<string, Float32Array>();
  const outGrads = new Map<string, Float32Array>();
  const inGrads = new Map<string, Float32Array>();
  const wgrads = Array.from({ length: a.virtualStages }, () => new Float32Array(1));
  let tied: Float32Array | undefined;
  for (const i of pipelineSchedule(a.kind, p, a.microbatches, stage, a.virtualStages, a.transfers)) {
    const vs = "chunk" in i ? virtualStageOf(stage, i.chunk, p) : -1;
    switch (i.op) {
      case "load":
        if (stage === 0 && !inputs.has(key(i.microbatch, 0))) inputs.set(key(i.microbatch, 0), testData(20 + i.microbatch, 0, a.length));
        break;
      case "recvActivation":
        inputs.set(key(i.microbatch, i.chunk), await pp.recv(i.peer, `a${i.microbatch}:${vs}`));
        break;
      case "forward":
        outputs.set(key(i.microbatch, i.chunk), toyForward(inputs.get(key(i.microbatch, i.chunk))!, vs));
        break;
      case "sendActivation":
        await pp.send(outputs.get(key(i.microbatch, i.chunk))!, i.peer, `a${i.microbatch}:${vs + 1}`);
        break;
      case "recvGrad":
        outGrads.set(key(i.microbatch, i.chunk), await pp.recv(i.peer, `g${i.microbatch}:${vs}`));
        break;
      case "backward": {
        const dy = vs === lastV ? new Float32Array(a.length).fill(1) : outGrads.get(key(i.microbatch, i.chunk))!;
        inGrads.set(key(i.microbatch, i.chunk), toyBackward(dy, inputs.get(key(i.microbatch, i.chunk))!, vs, wgrads[i.chunk]!));
        break;
      }
      case "sendGrad":
        await pp.send(inGrads.get(key(i.microbatch, i.chunk))!, i.peer, `g${i.microbatch}:${vs - 1}`);
        break;
      case "reduceTiedGrads":
        tied = Float32Array.from(stage === 0 ? wgrads[0]! : wgrads[a.virtualStages - 1]!);
        await embedding!.allReduce(tied);
        break;
      case "reduceGrads":
      case "optimizerStep":
        break; // one replica and no optimizer in this toy
    }
  }
  return { wgrads, tied };
}
