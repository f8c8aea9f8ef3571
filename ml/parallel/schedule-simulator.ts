// Runs every stage's instruction list together, as workers would, and reports what happened: the time line
// under given pass costs, idle time (the bubble), and any deadlock or dependency violation.
// Sends are either rendezvous (a send completes only when the peer reaches the matching receive — the strict
// model, like unbuffered NCCL point-to-point) or buffered (a send completes at once; receives wait).
import { ScheduleDeadlockError, ScheduleDependencyError } from "./errors.ts";
import { virtualStageOf, formatInstruction, type Instruction, type ScheduleShape } from "./schedule-types.ts";

export interface SimulationCosts {
  /** duration of one forward pass of one chunk (default 1) */
  forward?: (stage: number, chunk: number, microbatch: number) => number;
  /** duration of one backward pass of one chunk (default 2, the usual ratio) */
  backward?: (stage: number, chunk: number, microbatch: number) => number;
  /** transfer time of one activation or gradient (default 0) */
  transfer?: number;
}

export interface SimulationResult {
  /** time at which the last stage finished its last pass */
  makespan: number;
  /** busy time per stage (forward + backward) */
  busy: number[];
  /** mean over stages of idle time / makespan */
  bubbleFraction: number;
  /** forwards[stage][chunk][microbatch] and backwards likewise: how many times each pass ran */
  forwards: number[][][];
  backwards: number[][][];
}



export function simulateSchedules(
  lists: readonly (readonly Instruction[])[],
  shape: ScheduleShape,
  options: { mode?: "rendezvous" | "buffered"; costs?: SimulationCosts } = {},
): SimulationResult {
  const { stages: p, microbatches: m, virtualStages: v } = shape;
  if (lists.length !== p) throw new ScheduleDependencyError(`${lists.length} instruction lists for ${p} stages`);
  const mode = options.mode ?? "rendezvous";
  const fCost = options.costs?.forward ?? (() => 1);
  const bCost = options.costs?.backward ?? (() => 2);
  const transfer = options.costs?.transfer ?? 0;
  const lastV = p * v - 1;
  const zeros = () => Array.from({ length: p }, () => Array.from({ length: v }, () => new Array<number>(m).fill(0)));
  const forwards = zeros();
  const backwards = zeros();
  const loaded = Array.from({ length: p }, () => new Set<number>());
  const received = Array.from({ length: p }, () => new Set<string>()); // "a:mb:chunk" / "g:mb:chunk"
  const sent = new Map<string, number>(); // buffered mode: channel → time the data is available
  const pc = new Array<number>(p).fill(0);
  const clock = new Array<number>(p).fill(0);
  const busy = new Array<number>(p).fill(0);
  let lastPassEnd = 0;

  const fail = (s: number, i: Instruction, why: string): never => {
    throw new ScheduleDependencyError(`stage ${s}: ${formatInstruction(i)}: ${why}`);
  };
  // Channel of a transfer, named by the consumer: activation into virtual stage vs, or grad into vs.
  const channelOf = (s: number, i: Instruction & { chunk: number; peer: number; microbatch: number }) => {
    const vs = virtualStageOf(s, i.chunk, p);
    const isSend = i.op.startsWith("send");
    const isAct = i.op.endsWith("Activation");
    const consumer = isSend ? (isAct ? vs + 1 : vs - 1) : vs;
    const producer = isSend ? vs : isAct ? vs - 1 : vs + 1;
    if (consumer < 0 || consumer > lastV || producer < 0 || producer > lastV) fail(s, i, "no such neighbour virtual stage");
    const other = isSend ? consumer : producer;
    if (other % p !== i.peer) fail(s, i, `peer should be stage ${other % p}`);
    return `${isAct ? "a" : "g"}:${i.microbatch}:${consumer}`;
  };

  /** Tries to execute stage s's current instruction; returns whether it did. */
  const step = (s: number): boolean => {
    const i = lists[s]![pc[s]!];
    if (!i) return false;
    switch (i.op) {
      case "load":
        loaded[s]!.add(i.microbatch);
        break;
      case "forward":
      case "backward": {
        const { microbatch: mb, chunk: c } = i;
        if (mb < 0 || mb >= m || c < 0 || c >= v) fail(s, i, "micro-batch or chunk out of range");
        const vs = virtualStageOf(s, c, p);
        if (i.op === "forward") {
          if (vs === 0 ? !loaded[s]!.has(mb) : !received[s]!.has(`a:${mb}:${c}`)) fail(s, i, "input not loaded or received");
          if (vs === lastV && !loaded[s]!.has(mb)) fail(s, i, "targets not loaded");
          forwards[s]![c]![mb]!++;
        } else {
          if (forwards[s]![c]![mb] !== 1) fail(s, i, "backward before its forward");
          if (vs !== lastV && !received[s]!.has(`g:${mb}:${c}`)) fail(s, i, "output gradient not received");
          backwards[s]![c]![mb]!++;
        }
        const d = i.op === "forward" ? fCost(s, c, mb) : bCost(s, c, mb);
        clock[s]! += d;
        busy[s]! += d;
        lastPassEnd = Math.max(lastPassEnd, clock[s]!);
        break;
      }
      case "sendActivation":
      case "sendGrad":
      case "recvActivation":
      case "recvGrad": {
        const channel = channelOf(s, i);
        const isSend = i.op.startsWith("send");
        if (isSend) {
          const produced = i.op === "sendActivation" ? forwards : backwards;
          if (produced[s]![i.chunk]![i.microbatch] !== 1) fail(s, i, "sends data its pass has not produced");
        }
        if (mode === "buffered") {
          if (isSend) {
            sent.set(channel, clock[s]! + transfer);
          } else {
            const t = sent.get(channel);
            if (t === undefined) return false;
            clock[s] = Math.max(clock[s]!, t);
            received[s]!.add(`${channel[0]}:${i.microbatch}:${i.chunk}`);
          }
          break;
        }
        // rendezvous: both ends must be at the matching instruction
        const q = i.peer;
        const j = lists[q]![pc[q]!];
        const want = isSend ? i.op.replace("send", "recv") : i.op.replace("recv", "send");
        if (!j || j.op !== want || !("peer" in j) || j.peer !== s || channelOf(q, j) !== channel) return false;
        const t = Math.max(clock[s]!, clock[q]!) + transfer;
        clock[s] = t;
        clock[q] = t;
        const [sendStage, sendInstr, recvStage, recvInstr] = isSend ? [s, i, q, j] : [q, j, s, i];
        const produced = sendInstr.op === "sendActivation" ? forwards : backwards;
        if (produced[sendStage]![sendInstr.chunk]![sendInstr.microbatch] !== 1) fail(sendStage, sendInstr, "sends data its pass has not produced");
        received[recvStage]!.add(`${channel[0]}:${recvInstr.microbatch}:${recvInstr.chunk}`);
        pc[q]!++;
        break;
      }
      case "reduceTiedGrads": {
        const q = s === 0 ? p - 1 : 0;
        if (lists[q]![pc[q]!]?.op !== "reduceTiedGrads") return false;
        const t = Math.max(clock[s]!, clock[q]!);
        clock[s] = t;
        clock[q] = t;
        pc[q]!++;
        break;
      }
      case "reduceGrads":
      case "optimizerStep":
        break;
    }
    pc[s]!++;
    return true;
  };

  for (;;) {
    let progressed = false;
    for (let s = 0; s < p; s++) while (step(s)) progressed = true;
    if (pc.every((x, s) => x === lists[s]!.length)) break;
    if (!progressed) {
      const blocked = pc.flatMap((x, s) => (x < lists[s]!.length ? [{ stage: s, instruction: formatInstruction(lists[s]![x]!) }] : []));
      throw new ScheduleDeadlockError(
        `deadlock: ${blocked.map((b) => `stage ${b.stage} waits at ${b.instruction}`).join("; ")}`,
        blocked,
      );
    }
  }
  const makespan = lastPassEnd;
  const bubbleFraction = busy.reduce((a, b) => a + (makespan - b), 0) / (p * makespan);
  return { makespan, busy, bubbleFraction, forwards, backwards };
}

/** The textbook bubble as a fraction of step time: (p−1)/(v·m + p−1); with v = 1 that is (p−1)/(m+p−1). */
export function bubbleFormula(stages: number, microbatches: number, virtualStages = 1): number {
  return (stages - 1) / (virtualStages * microbatches + stages - 1);
}
