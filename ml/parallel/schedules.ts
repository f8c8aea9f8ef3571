// Pipeline schedules as pure functions: (kind, stages, microbatches, stage[, virtualStages]) → instruction list.
//
// Each kind fixes the order of forward and backward passes on every stage (GPipe: all forwards, then all
// backwards; 1F1B: p−s−1 warm-up forwards, then one forward one backward, then the remaining backwards;
// interleaved 1F1B: Megatron's order over virtual stages). Sends and receives are then placed by one global
// key: the time the receiving pass starts in an as-soon-as-possible run with unit costs, ties broken by a
// canonical message number. Every stage meets its sends and receives in increasing key order, so even with
// unbuffered (rendezvous) sends the lists cannot deadlock: the pending transfer with the smallest key always
// has both ends waiting on it. The "eager" transfer order instead sends as soon as data exists (see TransferOrder).
import { InvalidLayoutError } from "./errors.ts";
import { virtualStageOf, type Instruction, type ScheduleKind, type ScheduleShape } from "./schedule-types.ts";

interface Pass {
  kind: "forward" | "backward";
  microbatch: number;
  chunk: number;
}

function validateScheduleShape(kind: ScheduleKind, shape: ScheduleShape): void {
  const { stages, microbatches, virtualStages } = shape;
  for (const [k, v] of [
    ["stages", stages],
    ["microbatches", microbatches],
    ["virtualStages", virtualStages],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new InvalidLayoutError(`${k} must be a positive integer, got ${String(v)}`);
  }
  if (!["gpipe", "1f1b", "interleaved"].includes(kind)) {
    throw new InvalidLayoutError(`unknown schedule kind '${String(kind)}' (gpipe, 1f1b or interleaved)`);
  }
  if (kind !== "interleaved" && virtualStages !== 1) {
    throw new InvalidLayoutError(`${kind} has one model chunk per stage; virtualStages must be 1, got ${virtualStages}`);
  }
  if (kind === "interleaved" && virtualStages > 1 && stages < 2) {
    throw new InvalidLayoutError("interleaved 1F1B with several model chunks needs at least 2 stages");
  }
  if (kind === "interleaved" && microbatches % stages !== 0) {
    throw new InvalidLayoutError(
      `interleaved 1F1B needs microbatches to be a multiple of stages (${microbatches} is not a multiple of ${stages})`,
    );
  }
}

/** Order of forward and backward passes on one stage. */
function passOrder(kind: ScheduleKind, shape: ScheduleShape, stage: number): Pass[] {
  const { stages: p, microbatches: m, virtualStages: v } = shape;
  const F = (microbatch: number, chunk = 0): Pass => ({ kind: "forward", microbatch, chunk });
  const B = (microbatch: number, chunk = 0): Pass => ({ kind: "backward", microbatch, chunk });
  const mbs = [...Array(m).keys()];
  if (kind === "gpipe") return [...mbs.map((i) => F(i)), ...mbs.map((i) => B(i))];
  if (kind === "1f1b") {
    const warmup = Math.min(p - stage - 1, m);
    const out = mbs.slice(0, warmup).map((i) => F(i));
    for (let i = warmup; i < m; i++) out.push(F(i), B(i - warmup));
    for (let i = m - warmup; i < m; i++) out.push(B(i));
    return out;
  }
  // Interleaved (Megatron): virtual micro-batch k runs chunk ⌊k/p⌋ mod v of micro-batch ⌊k/(p·v)⌋·p + k mod p;
  // backward walks the chunks in reverse.
  const total = m * v;
  const fwd = (k: number) => F(Math.floor(k / (p * v)) * p + (k % p), Math.floor(k / p) % v);
  const bwd = (k: number) => B(Math.floor(k / (p * v)) * p + (k % p), v - 1 - (Math.floor(k / p) % v));
  const warmup = m === p ? total : Math.min((p - stage - 1) * 2 + (v - 1) * p, total);
  const out: Pass[] = [];
  for (let k = 0; k < warmup; k++) out.push(fwd(k));
  for (let k = 0; k < total - warmup; k++) out.push(fwd(k + warmup), bwd(k));
  for (let k = total - warmup; k < total; k++) out.push(bwd(k));
  return out;
}

interface Message {
  op: "Activation" | "Grad";
  microbatch: number;
  from: { stage: number; chunk: number };
  to: { stage: number; chunk: number };
  /** start times, in the unit-cost run, of the producing and the consuming pass */
  produced: number;
  consumed: number;
  /** canonical message number: breaks ties identically on both ends */
  id: number;
}

/**
 * Where transfers go in the lists. "rendezvous" (default): safe even when a send blocks until the peer receives
 * (NCCL-like); both ends meet transfers in one global order. "eager": each send right after the pass that
 * produced the data and each receive right before the pass that needs it; for transports whose sends never
 * wait for the receiver (the CPU backend's buffered TCP), where it keeps the pipeline busiest.
 */
export type TransferOrder = "rendezvous" | "eager";

/** Start time of every pass in an as-soon-as-possible run with unit forward and backward costs. */
function unitTimeline(kind: ScheduleKind, shape: ScheduleShape): Map<string, number> {
  const { stages: p, microbatches: m, virtualStages: v } = shape;
  const orders = Array.from({ length: p }, (_, s) => passOrder(kind, shape, s));
  const lastV = p * v - 1;
  const start = new Map<string, number>();
  const end = new Map<string, number>();
  const id = (k: string, mb: number, vs: number) => `${k}:${mb}:${vs}`;
  const pc = new Array<number>(p).fill(0);
  const clock = new Array<number>(p).fill(0);
  let remaining = orders.reduce((a, o) => a + o.length, 0);
  while (remaining > 0) {
    let progressed = false;
    for (let s = 0; s < p; s++) {
      while (pc[s]! < orders[s]!.length) {
        const pass = orders[s]![pc[s]!]!;
        const vs = virtualStageOf(s, pass.chunk, p);
        const deps =
          pass.kind === "forward"
            ? vs === 0
              ? []
              : [id("forward", pass.microbatch, vs - 1)]
            : [id("forward", pass.microbatch, vs), ...(vs === lastV ? [] : [id("backward", pass.microbatch, vs + 1)])];
        if (!deps.every((d) => end.has(d))) break;
        const t = Math.max(clock[s]!, ...deps.map((d) => end.get(d)!));
        start.set(id(pass.kind, pass.microbatch, vs), t);
        end.set(id(pass.kind, pass.microbatch, vs), t + 1);
        clock[s] = t + 1;
        pc[s]!++;
        remaining--;
        progressed = true;
      }
    }
    if (!progressed)
      throw new InvalidLayoutError(`the ${kind} pass order has a dependency cycle (${p} stages, ${m} micro-batches, v ${v})`);
  }
  return start;
}

function allSchedules(kind: ScheduleKind, shape: ScheduleShape, transfers: TransferOrder): Instruction[][] {
  const { stages: p, microbatches: m, virtualStages: v } = shape;
  const timeline = unitTimeline(kind, shape);
  const lastV = p * v - 1;
  const at = (vs: number) => ({ stage: vs % p, chunk: Math.floor(vs / p) });
  const messages: Message[] = [];
  for (let mb = 0; mb < m; mb++) {
    for (let vs = 0; vs < lastV; vs++) {
      messages.push({
        op: "Activation",
        microbatch: mb,
        from: at(vs),
        to: at(vs + 1),
        produced: timeline.get(`forward:${mb}:${vs}`)!,
        consumed: timeline.get(`forward:${mb}:${vs + 1}`)!,
        id: 2 * (mb * (lastV + 1) + vs),
      });
    }
    for (let vs = lastV; vs > 0; vs--) {
      messages.push({
        op: "Grad",
        microbatch: mb,
        from: at(vs),
        to: at(vs - 1),
        produced: timeline.get(`backward:${mb}:${vs}`)!,
        consumed: timeline.get(`backward:${mb}:${vs - 1}`)!,
        id: 2 * (mb * (lastV + 1) + vs) + 1,
      });
    }
  }
  // Entries sort by (time, rank, message number): rank 0 = a receive (or rendezvous send) just before the pass
  // starting at that time, 1 = the pass, 2 = an eager send just after the pass that produced the data.
  type Entry = { time: number; rank: number; tie: number; instructions: Instruction[] };
  const entries: Entry[][] = Array.from({ length: p }, () => []);
  for (let s = 0; s < p; s++) {
    for (const pass of passOrder(kind, shape, s)) {
      const vs = virtualStageOf(s, pass.chunk, p);
      const time = timeline.get(`${pass.kind}:${pass.microbatch}:${vs}`)!;
      const instructions: Instruction[] = [];
      if (pass.kind === "forward" && (vs === 0 || vs === lastV)) instructions.push({ op: "load", microbatch: pass.microbatch });
      instructions.push({ op: pass.kind, microbatch: pass.microbatch, chunk: pass.chunk });
      entries[s]!.push({ time, rank: 1, tie: 0, instructions });
    }
  }
  for (const msg of messages) {
    const eager = transfers === "eager";
    entries[msg.from.stage]!.push({
      time: eager ? msg.produced : msg.consumed,
      rank: eager ? 2 : 0,
      tie: msg.id,
      instructions: [{ op: `send${msg.op}`, microbatch: msg.microbatch, chunk: msg.from.chunk, peer: msg.to.stage }],
    });
    entries[msg.to.stage]!.push({
      time: msg.consumed,
      rank: 0,
      tie: msg.id,
      instructions: [{ op: `recv${msg.op}`, microbatch: msg.microbatch, chunk: msg.to.chunk, peer: msg.from.stage }],
    });
  }
  return entries.map((list, s) => {
    list.sort((a, b) => a.time - b.time || a.rank - b.rank || a.tie - b.tie);
    const out = list.flatMap((e) => e.instructions);
    if (p > 1 && (s === 0 || s === p - 1)) out.push({ op: "reduceTiedGrads" });
    out.push({ op: "reduceGrads" }, { op: "optimizerStep" });
    return out;
  });
}

/**
 * The instruction list of one stage for one training step.
 *
 * Worked example — 1F1B, 2 stages, 3 micro-batches (stage 0 warms up with 1 forward):
 *   stage 0: load mb0, forward mb0, sendActivation mb0 →s1, load mb1, forward mb1, recvGrad mb0 ←s1,
 *            sendActivation mb1 →s1, backward mb0, load mb2, forward mb2, recvGrad mb1 ←s1, sendActivation mb2 →s1,
 *            backward mb1, recvGrad mb2 ←s1, backward mb2, reduceTiedGrads, reduceGrads, optimizerStep
 *   stage 1: recvActivation mb0 ←s0, load mb0 (targets), forward mb0, backward mb0, sendGrad mb0 →s0, … (same for
 *            mb1, mb2), reduceTiedGrads, reduceGrads, optimizerStep
 * Stage 0 receives mb0's gradient before sending mb1's activation: stage 1 sends that gradient before it asks for
 * mb1, so with blocking sends the other order would deadlock. With transfers "eager" stage 0 sends mb1 first.
 */
export function pipelineSchedule(
  kind: ScheduleKind,
  stages: number,
  microbatches: number,
  stage: number,
  virtualStages = 1,
  transfers: TransferOrder = "rendezvous",
): Instruction[] {
  const shape = { stages, microbatches, virtualStages };
  validateScheduleShape(kind, shape);
  if (!Number.isInteger(stage) || stage < 0 || stage >= stages) {
    throw new InvalidLayoutError(`stage ${String(stage)} is outside 0..${stages - 1}`);
  }
  return allSchedules(kind, shape, checkTransfers(transfers))[stage]!;
}

/** Every stage's list at once (what a simulator or a coordinator wants). */
export function pipelineSchedules(
  kind: ScheduleKind,
  stages: number,
  microbatches: number,
  virtualStages = 1,
  transfers: TransferOrder = "rendezvous",
): Instruction[][] {
  validateScheduleShape(kind, { stages, microbatches, virtualStages });
  return allSchedules(kind, { stages, microbatches, virtualStages }, checkTransfers(transfers));
}

function checkTransfers(t: string): TransferOrder {
  if (t !== "rendezvous" && t !== "eager") throw new InvalidLayoutError(`transfer order must be rendezvous or eager, got '${t}'`);
  return t;
}
