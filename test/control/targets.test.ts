// Target resolution of `troupe restart --job`: pure, from the job's rank layout.
import { describe, expect, it } from "vitest";
import { describeJob, resolveRestartTargets, jobControlSubject } from "../../actors/coordinator/control.ts";
import { rankLayout } from "../../ml/parallel/ranks.ts";
import { rankMembers } from "../../actors/rank-members.ts";
import { namespace } from "../../runtime/namespace.ts";

function job222() {
  const layout = rankLayout({ dp: 2, pp: 2, tp: 2 });
  return describeJob("j", rankMembers("j", layout.coords));
}

describe("resolveRestartTargets", () => {
  it("derives the sizes from the workers' coordinates", () => {
    expect(job222().sizes).toEqual({ dp: 2, pp: 2, tp: 2 });
  });

  it("selects a stage, a replica, their intersection, and named actors (Megatron order rank = t + 2d + 4p)", () => {
    const j = job222();
    expect(resolveRestartTargets(j, { stage: 1 })).toEqual(["j-w4", "j-w5", "j-w6", "j-w7"]);
    expect(resolveRestartTargets(j, { replica: 0 })).toEqual(["j-w0", "j-w1", "j-w4", "j-w5"]);
    expect(resolveRestartTargets(j, { stage: 1, replica: 0 })).toEqual(["j-w4", "j-w5"]);
    expect(resolveRestartTargets(j, { actors: ["j-w6", "j-w1"] })).toEqual(["j-w1", "j-w6"]);
  });

  it("names the valid range for a bad stage or replica", () => {
    const j = job222();
    expect(() => resolveRestartTargets(j, { stage: 2 })).toThrow(/stage 2 is out of range for job j: valid stages are 0\.\.1 \(pp = 2\)/);
    expect(() => resolveRestartTargets(j, { replica: -1 })).toThrow(/replica -1 is out of range.*0\.\.1 \(dp = 2\)/);
  });

  it("rejects an unknown worker and an empty selector", () => {
    expect(() => resolveRestartTargets(job222(), { actors: ["j-w9"] })).toThrow(/job j has no worker 'j-w9'/);
    expect(() => resolveRestartTargets(job222(), {})).toThrow(/name what to restart/);
  });

  it("puts the control subject in the cluster's namespace and checks the job id", () => {
    expect(jobControlSubject(namespace("c1"), "job-1")).toBe("troupe.c1.job.job-1.control");
    expect(() => jobControlSubject(namespace("c1"), "a.b")).toThrow(/may contain only/);
  });
});
