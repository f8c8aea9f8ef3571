// A job's collective totals from sampled commits (cli/dashboard/collective-totals.ts): each commit's counts since
// the worker's process started give the total without the commits between; a smaller count is a new process.
import { describe, expect, it } from "vitest";
import { CollectiveTotals, type JobCollectives } from "../../cli/dashboard/collective-totals.ts";

const tally = (sentBytes: number, receivedBytes: number, seconds: number) => ({ sentBytes, receivedBytes, seconds });

describe("CollectiveTotals", () => {
  it("counts since each process started: only the growth is added; a new process (counts fell) adds its whole count", () => {
    const totals = new CollectiveTotals();
    const c: JobCollectives = { step: 10, last: { w0: tally(1, 1, 0.1) }, total: {} };
    expect(totals.add("j", c, { w0: tally(100, 90, 1), w1: tally(50, 50, 0.5) })).toEqual({
      w0: tally(100, 90, 1),
      w1: tally(50, 50, 0.5),
    });
    // 30 steps later (none of those between seen)
    expect(totals.add("j", c, { w0: tally(400, 390, 4), w1: tally(350, 350, 3.5) })).toEqual({
      w0: tally(300, 300, 3),
      w1: tally(300, 300, 3),
    });
    // w1 restarted: its new process has moved 20 bytes each way
    expect(totals.add("j", c, { w0: tally(500, 490, 5), w1: tally(20, 20, 0.2) })).toEqual({
      w0: tally(100, 100, 1),
      w1: tally(20, 20, 0.2),
    });
    expect(c.total).toEqual({ w0: tally(500, 490, 5), w1: tally(370, 370, 3.7) });
    // another job's workers of the same names are counted apart
    const other: JobCollectives = { step: 1, last: {}, total: {} };
    expect(totals.add("k", other, { w0: tally(7, 7, 0) })).toEqual({ w0: tally(7, 7, 0) });
  });

  it("commits of an older coordinator (no counts since start): the steps' own counts are summed", () => {
    const totals = new CollectiveTotals();
    const c: JobCollectives = { step: 1, last: { w0: tally(10, 10, 1) }, total: {} };
    totals.add("j", c, undefined);
    c.last = { w0: tally(12, 10, 1) };
    totals.add("j", c, undefined);
    expect(c.total).toEqual({ w0: tally(22, 20, 2) });
  });
});
