import { describe, expect, it } from "vitest";
import { bubbleFormula, simulateSchedules } from "../../ml/parallel/schedule-simulator.ts";
import { ScheduleDeadlockError, ScheduleDependencyError } from "../../ml/parallel/errors.ts";
import { pipelineSchedule, pipelineSchedules } from "../../ml/parallel/schedules.ts";
import type { Instruction, ScheduleKind } from "../../ml/parallel/schedule-types.ts";

function cases(): { kind: ScheduleKind; p: number; m: number; v: number }[] {
  const out: { kind: ScheduleKind; p: number; m: number; v: number }[] = [];
  for (const p of [1, 2, 3, 4, 8])
    for (const m of [1, 2, 3, 4, 5, 8, 12, 16]) {
      out.push({ kind: "gpipe", p, m, v: 1 }, { kind: "1f1b", p, m, v: 1 });
      if (m % p === 0) for (const v of p === 1 ? [1] : [1, 2, 3, 4]) out.push({ kind: "interleaved", p, m, v });
    }
  return out;
}

describe("pipeline schedules", () => {
  it("are deadlock-free with rendezvous and buffered sends, run every pass once, and meet the bubble formula", () => {
    let checked = 0;
    for (const { kind, p, m, v } of cases()) {
      const lists = pipelineSchedules(kind, p, m, v);
      const shape = { stages: p, microbatches: m, virtualStages: v };
      for (const mode of ["rendezvous", "buffered"] as const) {
        // equal forward and backward cost per chunk: every kind should sit exactly on its formula
        const equal = simulateSchedules(lists, shape, { mode, costs: { forward: () => 1 / v, backward: () => 1 / v } });
        const label = `${kind} p=${p} m=${m} v=${v} ${mode}`;
        for (const counts of [equal.forwards, equal.backwards])
          for (const perStage of counts) for (const perChunk of perStage) expect(perChunk, label).toEqual(new Array(m).fill(1));
        expect(equal.bubbleFraction, label).toBeCloseTo(bubbleFormula(p, m, v), 9);
        if (kind !== "interleaved") {
          // backward twice the forward: GPipe and 1F1B keep (p−1)/(m+p−1)
          const r = simulateSchedules(lists, shape, { mode, costs: { forward: () => 1, backward: () => 2 } });
          expect(r.bubbleFraction, label).toBeCloseTo(bubbleFormula(p, m), 9);
        }
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(150);
  });

  it("with eager transfers and buffered sends, meet the formula for backward twice the forward, interleaved too", () => {
    for (const { kind, p, m, v } of cases()) {
      const lists = pipelineSchedules(kind, p, m, v, "eager");
      const shape = { stages: p, microbatches: m, virtualStages: v };
      const label = `${kind} p=${p} m=${m} v=${v} eager`;
      for (const backward of [1, 2]) {
        const r = simulateSchedules(lists, shape, { mode: "buffered", costs: { forward: () => 1 / v, backward: () => backward / v } });
        for (const counts of [r.forwards, r.backwards])
          for (const perStage of counts) for (const perChunk of perStage) expect(perChunk, label).toEqual(new Array(m).fill(1));
        expect(r.bubbleFraction, `${label} backward ${backward}`).toBeCloseTo(bubbleFormula(p, m, v), 9);
      }
    }
  });

  it("need the rendezvous order when sends block: eager 1F1B lists deadlock there", () => {
    const shape = { stages: 2, microbatches: 4, virtualStages: 1 };
    expect(() => simulateSchedules(pipelineSchedules("1f1b", 2, 4, 1, "eager"), shape, { mode: "rendezvous" })).toThrow(
      ScheduleDeadlockError,
    );
    expect(() => simulateSchedules(pipelineSchedules("1f1b", 2, 4, 1, "rendezvous"), shape, { mode: "rendezvous" })).not.toThrow();
    expect(() => pipelineSchedule("1f1b", 2, 4, 0, 1, "lazy" as "eager")).toThrow(/transfer order must be rendezvous or eager/);
  });

  it("keeps 1F1B's in-flight micro-batches at p − stage, where GPipe holds all m", () => {
    const inFlight = (list: Instruction[]) => {
      let live = 0;
      let peak = 0;
      for (const i of list) {
        if (i.op === "forward") peak = Math.max(peak, ++live);
        if (i.op === "backward") live--;
      }
      return peak;
    };
    for (let s = 0; s < 4; s++) {
      expect(inFlight(pipelineSchedule("1f1b", 4, 12, s))).toBe(4 - s);
      expect(inFlight(pipelineSchedule("gpipe", 4, 12, s))).toBe(12);
    }
  });

  it("places loads, tied-gradient and data-parallel reductions and the optimizer step", () => {
    const lists = pipelineSchedules("interleaved", 4, 8, 2);
    const ops = (s: number, op: string) => lists[s]!.filter((i) => i.op === op).length;
    expect(ops(0, "load")).toBe(8); // inputs for chunk 0
    expect(ops(3, "load")).toBe(8); // targets for the last chunk
    expect(ops(1, "load")).toBe(0);
    expect([0, 1, 2, 3].map((s) => ops(s, "reduceTiedGrads"))).toEqual([1, 0, 0, 1]);
    for (const list of lists) expect(list.slice(-2).map((i) => i.op)).toEqual(["reduceGrads", "optimizerStep"]);
    expect(ops(0, "recvActivation")).toBe(8); // chunk 1 of stage 0 receives from stage 3
    expect(pipelineSchedule("1f1b", 1, 2, 0).map((i) => i.op)).toEqual([
      "load",
      "forward",
      "backward",
      "load",
      "forward",
      "backward",
      "reduceGrads",
      "optimizerStep",
    ]);
  });

  it("rejects shapes it cannot schedule, naming the problem", () => {
    expect(() => pipelineSchedule("interleaved", 4, 6, 0, 2)).toThrow(/multiple of stages \(6 is not a multiple of 4\)/);
    expect(() => pipelineSchedule("1f1b", 4, 8, 0, 2)).toThrow(/virtualStages must be 1/);
    expect(() => pipelineSchedule("1f1b", 4, 8, 4)).toThrow(/stage 4 is outside 0..3/);
    expect(() => pipelineSchedule("zigzag" as ScheduleKind, 4, 8, 0)).toThrow(/unknown schedule kind 'zigzag'/);
    expect(() => pipelineSchedule("gpipe", 0, 8, 0)).toThrow(/stages must be a positive integer/);
  });
});

describe("schedule simulator", () => {
  const shape = { stages: 2, microbatches: 1, virtualStages: 1 };
  it("detects a deadlock: both stages wait to receive first", () => {
    const lists: Instruction[][] = [
      [
        { op: "recvGrad", microbatch: 0, chunk: 0, peer: 1 },
        { op: "load", microbatch: 0 },
        { op: "forward", microbatch: 0, chunk: 0 },
      ],
      [{ op: "recvActivation", microbatch: 0, chunk: 0, peer: 0 }],
    ];
    expect(() => simulateSchedules(lists, shape)).toThrow(ScheduleDeadlockError);
    expect(() => simulateSchedules(lists, shape)).toThrow(/stage 0 waits at recvGrad mb0 c0 ←s1; stage 1 waits at recvActivation/);
  });

  it("detects rendezvous deadlocks that buffering would hide", () => {
    // stage 0 sends micro-batch 1 before 0, stage 1 receives 0 first: fine when sends are buffered
    const lists: Instruction[][] = [
      [
        { op: "load", microbatch: 0 },
        { op: "forward", microbatch: 0, chunk: 0 },
        { op: "load", microbatch: 1 },
        { op: "forward", microbatch: 1, chunk: 0 },
        { op: "sendActivation", microbatch: 1, chunk: 0, peer: 1 },
        { op: "sendActivation", microbatch: 0, chunk: 0, peer: 1 },
      ],
      [
        { op: "recvActivation", microbatch: 0, chunk: 0, peer: 0 },
        { op: "recvActivation", microbatch: 1, chunk: 0, peer: 0 },
      ],
    ];
    const two = { stages: 2, microbatches: 2, virtualStages: 1 };
    expect(() => simulateSchedules(lists, two, { mode: "buffered" })).not.toThrow();
    expect(() => simulateSchedules(lists, two, { mode: "rendezvous" })).toThrow(ScheduleDeadlockError);
  });

  it("detects a send of data that was never computed", () => {
    const lists: Instruction[][] = [
      [{ op: "recvGrad", microbatch: 0, chunk: 0, peer: 1 }],
      [{ op: "sendGrad", microbatch: 0, chunk: 0, peer: 0 }],
    ];
    expect(() => simulateSchedules(lists, shape)).toThrow(ScheduleDependencyError);
    expect(() => simulateSchedules(lists, shape)).toThrow(/sends data its pass has not produced/);
  });

  it("detects a pass that runs before its input arrived", () => {
    const lists: Instruction[][] = [
      [
        { op: "load", microbatch: 0 },
        { op: "forward", microbatch: 0, chunk: 0 },
      ],
      [{ op: "forward", microbatch: 0, chunk: 0 }],
    ];
    expect(() => simulateSchedules(lists, shape)).toThrow(/stage 1: forward mb0 c0: input not loaded or received/);
  });
});
