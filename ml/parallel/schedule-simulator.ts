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

type Pass = Extract<Instruction, { op: "forward" | "backward" }>;
type Transfer = Extract<Instruction, { peer: number }>;

/** One run of the stages' lists: each stage's program counter and clock, and what it has loaded, received and computed. */
class Simulation {
  private readonly p: number;
  private readonly m: number;
  private readonly v: number;
  private readonly lastV: number;
  private readonly mode: "rendezvous" | "buffered";
  private readonly fCost: NonNullable<SimulationCosts["forward"]>;
  private readonly bCost: NonNullable<SimulationCosts["backward"]>;
  private readonly transfer: number;
  readonly forwards: number[][][];
  readonly backwards: number[][][];
  private readonly loaded: Set<number>[];
  private readonly received: Set<string>[]; // "a:mb:chunk" / "g:mb:chunk"
  private readonly sent = new Map<string, number>(); // buffered mode: channel → time the data is available
  private readonly pc: number[];
  private readonly clock: number[];
  readonly busy: number[];
  lastPassEnd = 0;

  constructor(
    private readonly lists: readonly (readonly Instruction[])[],
    shape: ScheduleShape,
    options: { mode?: "rendezvous" | "buffered"; costs?: SimulationCosts },
  ) {
    const { stages: p, microbatches: m, virtualStages: v } = shape;
    this.p = p;
    this.m = m;
    this.v = v;
    this.mode = options.mode ?? "rendezvous";
    this.fCost = options.costs?.forward ?? (() => 1);
    this.bCost = options.costs?.backward ?? (() => 2);
    this.transfer = options.costs?.transfer ?? 0;
    this.lastV = p * v - 1;
    const zeros = () => Array.from({ length: p }, () => Array.from({ length: v }, () => new Array<number>(m).fill(0)));
    this.forwards = zeros();
    this.backwards = zeros();
    this.loaded = Array.from({ length: p }, () => new Set<number>());
    this.received = Array.from({ length: p }, () => new Set<string>());
    this.pc = new Array<number>(p).fill(0);
    this.clock = new Array<number>(p).fill(0);
    this.busy = new Array<number>(p).fill(0);
  }

  private fail(s: number, i: Instruction, why: string): never {
    throw new ScheduleDependencyError(`stage ${s}: ${formatInstruction(i)}: ${why}`);
  }

  /** Channel of a transfer, named by the consumer: activation into virtual stage vs, or grad into vs. */
  private channelOf(s: number, i: Transfer): string {
    const vs = virtualStageOf(s, i.chunk, this.p);
    const isSend = i.op.startsWith("send");
    const isAct = i.op.endsWith("Activation");
    const consumer = isSend ? (isAct ? vs + 1 : vs - 1) : vs;
    const producer = isSend ? vs : isAct ? vs - 1 : vs + 1;
    if (consumer < 0 || consumer > this.lastV || producer < 0 || producer > this.lastV) this.fail(s, i, "no such neighbour virtual stage");
    const other = isSend ? consumer : producer;
    if (other % this.p !== i.peer) this.fail(s, i, `peer should be stage ${other % this.p}`);
    return `${isAct ? "a" : "g"}:${i.microbatch}:${consumer}`;
  }

  /** Runs every stage as far as it can, round after round, until all lists are done or none can move. */
  run(): void {
    const { lists, pc } = this;
    for (;;) {
      let progressed = false;
      for (let s = 0; s < this.p; s++) while (this.step(s)) progressed = true;
      if (pc.every((x, s) => x === lists[s]!.length)) break;
      if (!progressed) {
        const blocked = pc.flatMap((x, s) => (x < lists[s]!.length ? [{ stage: s, instruction: formatInstruction(lists[s]![x]!) }] : []));
        throw new ScheduleDeadlockError(
          `deadlock: ${blocked.map((b) => `stage ${b.stage} waits at ${b.instruction}`).join("; ")}`,
          blocked,
        );
      }
    }
  }

  /** Tries to execute stage s's current instruction; returns whether it did. */
  private step(s: number): boolean {
    const i = this.lists[s]![this.pc[s]!];
    if (!i) return false;
    switch (i.op) {
      case "load":
        this.loaded[s]!.add(i.microbatch);
        break;
      case "forward":
      case "backward":
        this.pass(s, i);
        break;
      case "sendActivation":
      case "sendGrad":
      case "recvActivation":
      case "recvGrad":
        if (!this.exchange(s, i)) return false;
        break;
      case "reduceTiedGrads": {
        const { clock, pc } = this;
        const q = s === 0 ? this.p - 1 : 0;
        if (this.lists[q]![pc[q]!]?.op !== "reduceTiedGrads") return false;
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
    this.pc[s]!++;
    return true;
  }

  /** A forward or backward pass: checks its inputs are there, counts it and advances the stage's clock. */
  private pass(s: number, i: Pass): void {
    const { microbatch: mb, chunk: c } = i;
    if (mb < 0 || mb >= this.m || c < 0 || c >= this.v) this.fail(s, i, "micro-batch or chunk out of range");
    const vs = virtualStageOf(s, c, this.p);
    if (i.op === "forward") {
      if (vs === 0 ? !this.loaded[s]!.has(mb) : !this.received[s]!.has(`a:${mb}:${c}`)) this.fail(s, i, "input not loaded or received");
      if (vs === this.lastV && !this.loaded[s]!.has(mb)) this.fail(s, i, "targets not loaded");
      this.forwards[s]![c]![mb]!++;
    } else {
      if (this.forwards[s]![c]![mb] !== 1) this.fail(s, i, "backward before its forward");
      if (vs !== this.lastV && !this.received[s]!.has(`g:${mb}:${c}`)) this.fail(s, i, "output gradient not received");
      this.backwards[s]![c]![mb]!++;
    }
    const d = i.op === "forward" ? this.fCost(s, c, mb) : this.bCost(s, c, mb);
    this.clock[s]! += d;
    this.busy[s]! += d;
    this.lastPassEnd = Math.max(this.lastPassEnd, this.clock[s]!);
  }

  /** A send or receive; returns false while it must wait (for the data, or in rendezvous mode for the peer). */
  private exchange(s: number, i: Transfer): boolean {
    const { clock, received, forwards, backwards } = this;
    const channel = this.channelOf(s, i);
    const isSend = i.op.startsWith("send");
    if (isSend) {
      const produced = i.op === "sendActivation" ? forwards : backwards;
      if (produced[s]![i.chunk]![i.microbatch] !== 1) this.fail(s, i, "sends data its pass has not produced");
    }
    if (this.mode === "buffered") {
      if (isSend) {
        this.sent.set(channel, clock[s]! + this.transfer);
      } else {
        const t = this.sent.get(channel);
        if (t === undefined) return false;
        clock[s] = Math.max(clock[s]!, t);
        received[s]!.add(`${channel[0]}:${i.microbatch}:${i.chunk}`);
      }
      return true;
    }
    // rendezvous: both ends must be at the matching instruction
    const q = i.peer;
    const j = this.lists[q]![this.pc[q]!];
    const want = isSend ? i.op.replace("send", "recv") : i.op.replace("recv", "send");
    if (!j || j.op !== want || !("peer" in j) || j.peer !== s || this.channelOf(q, j) !== channel) return false;
    const t = Math.max(clock[s]!, clock[q]!) + this.transfer;
    clock[s] = t;
    clock[q] = t;
    const [sendStage, sendInstr, recvStage, recvInstr] = isSend ? [s, i, q, j] : [q, j, s, i];
    const produced = sendInstr.op === "sendActivation" ? forwards : backwards;
    if (produced[sendStage]![sendInstr.chunk]![sendInstr.microbatch] !== 1)
      this.fail(sendStage, sendInstr, "sends data its pass has not produced");
    received[recvStage]!.add(`${channel[0]}:${recvInstr.microbatch}:${recvInstr.chunk}`);
    this.pc[q]!++;
    return true;
  }
}

/** Runs the stages' instruction lists together (see the file comment); throws on a deadlock or a dependency violation. */
export function simulateSchedules(
  lists: readonly (readonly Instruction[])[],
  shape: ScheduleShape,
  options: { mode?: "rendezvous" | "buffered"; costs?: SimulationCosts } = {},
): SimulationResult {
  const p = shape.stages;
  if (lists.length !== p) throw new ScheduleDependencyError(`${lists.length} instruction lists for ${p} stages`);
  const sim = new Simulation(lists, shape, options);
  sim.run();
  const { busy, forwards, backwards } = sim;
  const makespan = sim.lastPassEnd;
  const bubbleFraction = busy.reduce((a, b) => a + (makespan - b), 0) / (p * makespan);
  return { makespan, busy, bubbleFraction, forwards, backwards };
}

/** The textbook bubble as a fraction of step time: (p−1)/(v·m + p−1); with v = 1 that is (p−1)/(m+p−1). */
export function bubbleFormula(stages: number, microbatches: number, virtualStages = 1): number {
  return (stages - 1) / (virtualStages * microbatches + stages - 1);
}
