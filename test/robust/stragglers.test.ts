// The straggler detector (pure): worked example, streaks, groups, noise, and jobs recorded on a loaded machine.
import { describe, expect, it } from "vitest";
import { median, StragglerDetector, validateStragglerOptions } from "../../actors/coordinator/stragglers.ts";
import { StragglerOptionsError } from "../../actors/coordinator/errors.ts";
import { mulberry32 } from "../../ml/data/seeded-random.ts";
import { recorded1x2x2, recorded2x2x1, type RecordedJob } from "./fixtures/recorded-busy.ts";

/** Deterministic noise (mulberry32) so a failing series can be replayed. */
const rng = mulberry32;

const ids = ["w0", "w1", "w2", "w3", "w4", "w5", "w6", "w7"];

describe("StragglerDetector", () => {
  it("follows the worked example: flagged on the 3rd slow step in a row, cleared on the 3rd normal one in a row", () => {
    const d = new StragglerDetector({ factor: 1.5, consecutive: 3, minExcessMs: 2 });
    const at = (a: number, b: number, c: number) => [
      { id: "a", busyMs: a },
      { id: "b", busyMs: b },
      { id: "c", busyMs: c },
    ];
    expect(d.observe(1, at(10, 11, 20)).flagged).toEqual([]);
    expect(d.observe(2, at(10, 10, 19)).flagged).toEqual([]);
    const third = d.observe(3, at(11, 10, 21));
    expect(third.flagged.map((f) => f.id)).toEqual(["c"]);
    expect(third.flagged[0]!.ratio).toBeCloseTo(21 / 10.5, 12); // against the median of its peers a and b
    expect(third.flagged[0]).toMatchObject({ step: 3, busyMs: 21, medianMs: 10.5 });
    expect([...d.flagged.keys()]).toEqual(["c"]);
    // one normal step, then slow again: still flagged, not flagged again, not cleared
    expect(d.observe(4, at(10, 10, 10))).toEqual({ flagged: [], cleared: [] });
    expect(d.observe(5, at(10, 10, 30))).toEqual({ flagged: [], cleared: [] });
    expect(d.observe(6, at(10, 10, 10)).cleared).toEqual([]);
    expect(d.observe(7, at(10, 10, 10)).cleared).toEqual([]);
    const back = d.observe(8, at(10, 10, 10));
    expect(back.cleared).toMatchObject([{ id: "c", step: 8, ratio: 1 }]);
    expect(d.flagged.size).toBe(0);
  });

  it("a slow streak broken by one normal step starts counting again", () => {
    const d = new StragglerDetector({ factor: 1.5, consecutive: 3, minExcessMs: 0 });
    const at = (c: number) => [
      { id: "a", busyMs: 10 },
      { id: "b", busyMs: 10 },
      { id: "c", busyMs: c },
    ];
    const flags: number[] = [];
    [20, 20, 10, 20, 20, 20].forEach((c, i) => flags.push(d.observe(i + 1, at(c)).flagged.length));
    expect(flags).toEqual([0, 0, 0, 0, 0, 1]);
  });

  it("ignores tiny absolute differences (minExcessMs), missing and invalid samples, and single workers", () => {
    const d = new StragglerDetector({ factor: 1.5, consecutive: 1, minExcessMs: 2 });
    expect(
      d.observe(1, [
        { id: "a", busyMs: 0.4 },
        { id: "b", busyMs: 0.4 },
        { id: "c", busyMs: 1.5 },
      ]).flagged,
    ).toEqual([]);
    expect(d.observe(2, [{ id: "a", busyMs: 5 }]).flagged).toEqual([]);
    expect(
      d.observe(3, [
        { id: "a", busyMs: 5 },
        { id: "b", busyMs: Number.NaN },
      ]).flagged,
    ).toEqual([]);
    expect(
      d
        .observe(4, [
          { id: "a", busyMs: 5 },
          { id: "b", busyMs: 5 },
          { id: "c", busyMs: 50 },
        ])
        .flagged.map((f) => f.id),
    ).toEqual(["c"]);
  });

  it("raises no flag in a 1,000-step clean run of 8 workers with ±30% noise and rare 3× one-step spikes", () => {
    const d = new StragglerDetector();
    const r = rng(42);
    let raised = 0;
    let spikes = 0;
    for (let step = 1; step <= 1000; step++) {
      const samples = ids.map((id) => {
        let busy = 40 * (0.7 + 0.6 * r());
        if (r() < 0.02) {
          busy *= 3; // a GC pause or a noisy neighbour, for one step
          spikes++;
        }
        return { id, busyMs: busy };
      });
      raised += d.observe(step, samples).flagged.length;
    }
    expect(spikes).toBeGreaterThan(100); // the noise really had spikes in it
    expect(raised).toBe(0);
  });

  it("flags a worker 80% slower than the rest on the 5th step, in the same noise", () => {
    const d = new StragglerDetector();
    const r = rng(7);
    let flaggedAt: number | undefined;
    for (let step = 1; step <= 20 && flaggedAt === undefined; step++) {
      const samples = ids.map((id) => ({ id, busyMs: 40 * (0.9 + 0.2 * r()) * (id === "w5" ? 1.8 : 1) }));
      const f = d.observe(step, samples).flagged;
      if (f.length) {
        expect(f.map((x) => x.id)).toEqual(["w5"]);
        expect(f[0]!.ratio).toBeGreaterThan(1.5);
        flaggedAt = step;
      }
    }
    expect(flaggedAt).toBe(5);
  });

  it("compares each worker with its own group only (pipeline stages of different work)", () => {
    const d = new StragglerDetector({ factor: 1.5, consecutive: 2, minExcessMs: 2 });
    // stage 0 (embedding + 2 layers) takes 30 ms, stage 1 (2 layers + head) 60 ms; s1t1 is twice its TP peer
    const at = (slow: number) => [
      { id: "s0t0", busyMs: 30, group: "p0" },
      { id: "s0t1", busyMs: 31, group: "p0" },
      { id: "s1t0", busyMs: 60, group: "p1" },
      { id: "s1t1", busyMs: slow, group: "p1" },
    ];
    expect(d.observe(1, at(61)).flagged).toEqual([]);
    expect(d.observe(2, at(61)).flagged).toEqual([]); // one group of all would flag both stage-1 workers here
    expect(d.observe(3, at(120)).flagged).toEqual([]);
    const f = d.observe(4, at(125)).flagged;
    expect(f.map((x) => [x.id, x.ratio, x.medianMs])).toEqual([["s1t1", 125 / 60, 60]]);
  });

  it("never flags a worker alone in its group (a stage held by one worker)", () => {
    const d = new StragglerDetector({ factor: 1.5, consecutive: 1, minExcessMs: 0 });
    const r = d.observe(1, [
      { id: "a", busyMs: 10, group: "p0" },
      { id: "b", busyMs: 100, group: "p1" },
    ]);
    expect(r.flagged).toEqual([]);
  });

  it("counts a slow step only if its excess is also minStepShare of the job's step time, when given", () => {
    const d = new StragglerDetector({ factor: 1.5, consecutive: 1, minExcessMs: 2, minStepShare: 0.1 });
    const at = (c: number) => [
      { id: "a", busyMs: 10 },
      { id: "b", busyMs: 10 },
      { id: "c", busyMs: c },
    ];
    // 3× its peers, but 20 ms of a 400 ms step
    expect(d.observe(1, at(30), 400).flagged).toEqual([]);
    expect(d.observe(2, at(49), 400).flagged).toEqual([]);
    expect(d.observe(3, at(50), 400).flagged).toMatchObject([{ id: "c", busyMs: 50, medianMs: 10, stepMs: 400 }]);
    // without a step time only minExcessMs applies
    const e = new StragglerDetector({ factor: 1.5, consecutive: 1 });
    expect(e.observe(1, at(30)).flagged.map((f) => [f.id, f.stepMs])).toEqual([["c", undefined]]);
  });

  it.each([
    {
      job: recorded1x2x2,
      before: [
        ["w3", 5],
        ["w0", 22],
      ],
      after: [["w3", 5]],
    },
    {
      job: recorded2x2x1,
      before: [
        ["w3", 34],
        ["w1", 38],
      ],
      after: [["w3", 34]],
    },
  ])(
    "recorded $job.layout job at load 19–25: a healthy stage-0 worker was flagged beside the slowed w3; with the step time only w3 is",
    ({ job, before, after }) => {
      expect(replay(job, false)).toEqual(before);
      expect(replay(job, true)).toEqual(after);
    },
  );

  it("validates its options with clear errors", () => {
    expect(validateStragglerOptions()).toEqual({ factor: 1.5, consecutive: 5, minExcessMs: 2, minStepShare: 0.1 });
    expect(() => new StragglerDetector({ minStepShare: 1 })).toThrow(/minStepShare must be in \[0, 1\), got 1/);
    expect(() => new StragglerDetector({ factor: 1 })).toThrow(StragglerOptionsError);
    expect(() => new StragglerDetector({ factor: 1 })).toThrow(/factor must be a number above 1, got 1/);
    expect(() => new StragglerDetector({ consecutive: 0 })).toThrow(/consecutive steps must be an integer ≥ 1, got 0/);
    expect(() => new StragglerDetector({ minExcessMs: -1 })).toThrow(/minExcessMs must be ≥ 0/);
  });

  it("median of odd and even counts", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow(RangeError);
  });
});

/**
 * Feeds a recorded job to a detector with the default options as StepHealth does (step time: the median of the last 5
 * times from a step's reports to the next's), or without step times; returns [worker, step] of every flag.
 */
function replay(job: RecordedJob, withStepTimes: boolean): [string, number][] {
  const d = new StragglerDetector();
  const times: number[] = [];
  const flags: [string, number][] = [];
  job.rows.forEach(([sinceLast, ...busy], i) => {
    if (sinceLast! > 0) times.push(sinceLast!);
    const stepMs = withStepTimes && times.length > 0 ? median(times.slice(-5)) : undefined;
    const samples = job.ids.map((id, w) => ({ id, busyMs: busy[w]!, group: job.groups[w] }));
    for (const f of d.observe(job.firstStep + i, samples, stepMs).flagged) flags.push([f.id, f.step]);
  });
  return flags;
}
