// What `troupe jobs`, `ps` and `inspect` show of an elastic job's replicas (actors/jobs/job-dp.ts), read from the
// job machine's context as its lifecycle record carries it: the job machine's own SHRUNK and GROWN transitions.
import { describe, expect, it } from "vitest";
import { createActor } from "xstate";
import { jobMachine, type Resize } from "../../actors/coordinator/job-machine.ts";
import { describeDp, describeResize, jobDpOf } from "../../actors/jobs/job-dp.ts";
import type { LifecycleRecord } from "../../runtime/lifecycle-recorder.ts";
import { jobTable } from "../../cli/commands/jobs.ts";

const shrunk: Resize = { kind: "shrunk", from: 3, to: 2, replicas: [0, 2], step: 7, workers: ["j-w1"], cause: "j-w1 lost", time: 0 };

function lifecycleOf(context: unknown): LifecycleRecord {
  return { kind: "job", id: "j", value: "training", context, status: "active", seq: 1, updatedAt: 0 };
}

describe("a job's replicas from its lifecycle record", () => {
  it("the job machine records a shrink while recovering (back to waiting) and a grow while training", () => {
    const job = createActor(jobMachine).start();
    for (const type of ["PROVISIONED", "INITIALIZED"] as const) job.send({ type });
    job.send({ type: "FAILURE", actorId: "j-w1", cause: "SIGKILL" });
    job.send({ type: "RESTORE" });
    job.send({ type: "SHRUNK", resize: shrunk });
    expect(job.getSnapshot().value).toEqual({ recovering: "waiting" });
    job.send({ type: "RESTORE" });
    job.send({ type: "RECOVERED" });
    const grown: Resize = { ...shrunk, kind: "grown", from: 2, to: 3, replicas: [0, 1, 2], step: 9, cause: "troupe scale" };
    job.send({ type: "GROWN", resize: grown });
    expect(job.getSnapshot().context.resizes).toEqual([shrunk, grown]);
    expect(describeDp(jobDpOf(lifecycleOf(job.getSnapshot().context), 3))).toBe("3 (grown from 2 at step 9)");
  });

  it("a job that never changed shows the configured dp; an unknown one a dash", () => {
    expect(describeDp(jobDpOf(lifecycleOf({ resizes: [] }), 4))).toBe("4");
    expect(describeDp(jobDpOf(null))).toBe("-");
    expect(jobDpOf(lifecycleOf({ resizes: [shrunk] }), 3)).toEqual({ dp: 2, resizes: [shrunk] });
    expect(describeResize(shrunk)).toBe("1970-01-01T00:00:00.000Z  shrunk dp 3 → 2 at step 7 (replicas 0, 2): j-w1 lost");
  });

  it("troupe jobs has a DP NOW column", () => {
    const text = jobTable([
      {
        id: "j",
        name: "j",
        request: { configFile: "/c/j.yaml", runDir: "/r", cwd: "/", resume: false, noSamples: false },
        layout: { dp: 3, pp: 1, tp: 1 },
        state: "running",
        coordinator: "j-coordinator",
        submittedAt: 0,
        startedAt: null,
        endedAt: null,
        cause: null,
        checkpoint: null,
        coordinatorStarts: 1,
        step: 8,
        replicas: { dp: 2, resizes: [shrunk] },
      },
    ]);
    expect(text).toMatch(/DP NOW/);
    expect(text).toMatch(/3×1×1\s+2 \(shrunk from 3 at step 7\)\s+running\s+8/);
  });
});
