// The recovery timeline built from the event log: a SIGKILLed worker's events in stream order become one bar whose
// phases (detect, spawn, boot, join, restore, rerun) end at the events that mark them, the rerun at the commit of the
// step the loss interrupted; a normal exit is no recovery.
import { describe, expect, it } from "vitest";
import type { StoredEvent } from "../../runtime/event-log.ts";
import { RecoveryTracker } from "../../cli/dashboard/recovery-timeline.ts";

let seq = 0;
const ev = (type: string, subject: string, time: number, data: Record<string, unknown> = {}): StoredEvent => ({
  type,
  subject,
  time,
  data,
  seq: ++seq,
});

describe("RecoveryTracker", () => {
  it("a killed worker: one bar, each phase ending at its event", () => {
    const t = new RecoveryTracker();
    const events = [
      ev("operator.kill", "j-w1", 1000, { signal: "SIGKILL" }),
      ev("process.exited", "j-w1", 1010),
      ev("actor.transition", "j-w1", 1100, { from: "alive", to: "failed" }),
      ev("job.transition", "j", 1150, { from: "training", to: "recovering" }),
      ev("actor.transition", "j-w1", 1200, { from: "failed", to: "restarting" }),
      ev("actor.transition", "j-w1", 1300, { from: "restarting", to: "starting" }),
      ev("actor.transition", "j-w1", 1800, { from: "starting", to: "alive" }),
      ev("worker.transition", "j-w1", 1900, { from: "booting", to: "joining" }),
      ev("worker.transition", "j-w1", 2500, { from: "loading", to: "restoring" }),
      ev("worker.restored", "j-w1", 2700, {
        jobId: "j",
        actorId: "j-w1",
        cause: "killed by SIGKILL",
        source: "peer",
        from: "j-w0",
        step: 7,
        detectedAt: 1100,
        seconds: 1.6,
      }),
      ev("job.transition", "j", 2710, { from: "recovering", to: "training" }),
      ev("step.committed", "j", 3400, { jobId: "j", step: 7 }),
    ];
    const added = events.map((e) => t.add(e));
    // the bar, then its rerun ended by the commit of the interrupted step
    expect(added.filter(Boolean)).toHaveLength(2);
    expect(t.bars).toEqual([
      {
        actor: "j-w1",
        job: "j",
        cause: "killed by SIGKILL",
        source: "peer",
        from: "j-w0",
        start: 1000,
        seconds: 1.6,
        ends: { detect: 1100, spawn: 1300, boot: 1800, join: 2500, restore: 2700, rerun: 3400 },
      },
    ]);
  });

  it("phases no event marked take no time, and no phase ends before the one before it", () => {
    const t = new RecoveryTracker();
    t.add(ev("actor.transition", "j-w2", 5000, { from: "alive", to: "failed" }));
    t.add(ev("worker.restored", "j-w2", 6000, { jobId: "j", actorId: "j-w2", detectedAt: 4900, seconds: 0.5 }));
    expect(t.bars[0]).toMatchObject({
      start: 4900,
      ends: { detect: 5000, spawn: 5000, boot: 5000, join: 5000, restore: 6000, rerun: 6000 },
    });
  });

  it("the rerun ends at the first commit of the interrupted step or a later one, of its own job", () => {
    const t = new RecoveryTracker();
    t.add(ev("actor.transition", "j-w3", 100, { from: "alive", to: "failed" }));
    t.add(ev("worker.restored", "j-w3", 900, { jobId: "j", actorId: "j-w3", step: 12, detectedAt: 100, seconds: 0.8 }));
    // a commit of another job, or of a step before the interrupted one, ends nothing
    expect(t.add(ev("step.committed", "k", 950, { jobId: "k", step: 12 }))).toBe(false);
    expect(t.add(ev("step.committed", "j", 960, { jobId: "j", step: 11 }))).toBe(false);
    expect(t.bars[0]!.ends.rerun).toBe(900);
    expect(t.add(ev("step.committed", "j", 1500, { jobId: "j", step: 12 }))).toBe(true);
    expect(t.add(ev("step.committed", "j", 1600, { jobId: "j", step: 13 }))).toBe(false);
    expect(t.bars[0]!.ends).toMatchObject({ restore: 900, rerun: 1500 });
  });

  it("an actor that exits and comes back without failing is no recovery; a dead one is forgotten", () => {
    const t = new RecoveryTracker();
    t.add(ev("process.exited", "a", 1));
    t.add(ev("actor.transition", "a", 2, { from: "starting", to: "alive" }));
    t.add(ev("process.exited", "b", 3));
    t.add(ev("actor.transition", "b", 4, { from: "failed", to: "dead" }));
    t.add(ev("worker.restored", "b", 10, { jobId: "j", actorId: "b", detectedAt: 9, seconds: 1 }));
    expect(t.bars[0]!.start).toBe(9);
  });
});
