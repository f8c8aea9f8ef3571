// `troupe scale` through the real command: its help, and the refusals that need no job (a bad --dp, no --job: exit
// 2) or find none (an unknown job: exit 1, saying so). Growing a job is specified in grow.test.ts and grow-policy.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, inject, it } from "vitest";

const troupe = (...args: string[]) =>
  spawnSync(process.execPath, [path.resolve("bin/troupe.js"), ...args], { encoding: "utf8", timeout: 60_000 });

describe("troupe scale", () => {
  it("explains itself and refuses a bad command line with exit code 2", () => {
    const help = troupe("scale", "--help");
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/--dp <n>/);
    expect(help.stdout).toMatch(/elastic data-parallel job/);
    const noJob = troupe("scale", "--dp", "2");
    expect([noJob.status, noJob.stderr]).toEqual([2, expect.stringMatching(/name the job to scale with --job <id>/)]);
    const badDp = troupe("scale", "--job", "j", "--dp", "two");
    expect([badDp.status, badDp.stderr]).toEqual([2, expect.stringMatching(/--dp must be a whole number ≥ 1, got 'two'/)]);
    const zero = troupe("scale", "--job", "j", "--dp", "0");
    expect(zero.status).toBe(2);
  });

  it("an unknown job: exit 1 and the job named", () => {
    const r = troupe("scale", "--job", "no-such-job", "--dp", "2", "--nats", inject("natsUrl"), "--cluster-id", `scale-${process.pid}`);
    expect([r.status, r.stderr]).toEqual([1, expect.stringMatching(/unknown job 'no-such-job': no running job answers/)]);
  });
});
