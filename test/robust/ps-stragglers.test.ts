import { describe, expect, it } from "vitest";
import { markStragglers, psRows } from "../../cli/commands/ps.ts";
import type { ActorRecord } from "../../runtime/types.ts";

const record = (id: string): ActorRecord =>
  ({ id, supervisor: "job", coords: {}, host: "h", pid: 1, state: "alive", restarts: 0, step: 3 }) as ActorRecord;
const flag = { jobId: "job", step: 7, ratio: 1.94, busyMs: 97, medianMs: 50 };

describe("troupe ps straggler marker", () => {
  it("appends the ratio to the flagged worker's phase, and a dash when it has no phase", () => {
    const marked = markStragglers(
      new Map([
        ["w0", "stepping"],
        ["w1", "idle"],
      ]),
      new Map([
        ["w0", flag],
        ["w2", flag],
      ]),
    );
    expect(Object.fromEntries(marked)).toEqual({ w0: "stepping (straggler 1.9x)", w1: "idle", w2: "- (straggler 1.9x)" });
  });

  it("ps --json rows carry the flag or null", () => {
    const rows = psRows([record("w0"), record("w1")], new Map([["w0", "stepping"]]), new Map([["w0", flag]]));
    expect(rows.map((r) => [r.id, r.phase, r.straggler])).toEqual([
      ["w0", "stepping", { ratio: 1.94, step: 7 }],
      ["w1", null, null],
    ]);
  });
});
