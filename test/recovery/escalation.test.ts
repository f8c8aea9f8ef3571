// A worker that crashes at the same step in every incarnation exceeds the restart intensity of the config's
// `recovery` section: the worker supervisor escalates to the job's coordinator, which stops the job rather than
// loop. dp 2: the live replica still holds every shard, so the job stops with a checkpoint of the last committed
// step (sharded when pp > 1), names it in the cause, the `job.failed` event and the job record, and `--resume` from
// it ends exactly as the failure-free run. dp 1 · pp 2: the lost stage has no live copy, so the newest existing
// checkpoint stands.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readManifest } from "../../ml/checkpoint/store.ts";
import { fingerprint, layoutOf, rankAt, runJob, runJobFailing, writeTinyConfig } from "./fixtures.ts";
import { startSharedCluster, type SharedCluster } from "./shared-cluster.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-recovery-esc-"));
let cluster: SharedCluster;
beforeAll(async () => {
  cluster = await startSharedCluster("recesc", 2);
});
afterAll(async () => {
  await cluster?.stop();
  rmSync(root, { recursive: true, force: true });
});

async function jobFailedEvents(jobId: string) {
  return (await cluster.events.readAll(jobId)).filter((e) => e.type === "job.failed").map((e) => e.data);
}

describe("escalation: a worker crashing at the same step every time", () => {
  it("dp 2: stops with a checkpoint of the last committed step and the cause; --resume ends as the failure-free run", async () => {
    const configFile = writeTinyConfig(root, {
      name: "escdp2",
      dp: 2,
      pp: 1,
      tp: 1,
      steps: 4,
      recovery: { maxRestarts: 2, periodSeconds: 60 },
    });
    const runDir = path.join(root, "faulty");
    const { error, output } = await runJobFailing(configFile, runDir, {
      cluster,
      faults: [{ rank: 0, step: 3, phase: "forward", signal: "SIGKILL", repeat: "every" }],
    });
    const saved = path.join(runDir, "checkpoints", "step-00000002");
    expect(error.message).toMatch(
      /^job escdp2 stopped: restart intensity exceeded \(more than 2 restarts in 60000 ms\); last failure: escdp2-w0 killed by SIGKILL/,
    );
    expect(error.message).toContain(`; stopped with a checkpoint of step 2: ${saved}`);
    expect(output).toContain(`continue from ${saved} with: troupe train ${configFile} --resume --run-dir ${runDir}`);
    expect(readManifest(saved).step).toBe(2);
    // never loops: the crashing worker was restarted exactly maxRestarts times, then given up
    const w0 = await cluster.registry.getActor("escdp2-w0");
    expect([w0?.state, w0?.restarts]).toEqual(["dead", 2]);
    // the cause and the checkpoint in the job.failed event and the job's record
    expect(await jobFailedEvents("escdp2")).toEqual([
      { cause: error.message, checkpoint: saved, checkpointStep: 2, checkpointWritten: true },
    ]);
    const record = await cluster.lifecycles.get("job", "escdp2");
    expect(record?.value).toBe("failed");
    expect((record?.context as { failure: string }).failure).toBe(error.message);

    const resumed = await runJob(configFile, runDir, { cluster, resume: true });
    expect(resumed.output).toContain(`resuming from ${saved} (step 2`);
    const reference = await runJob(configFile, path.join(root, "reference"));
    const [r, f] = [fingerprint(resumed), fingerprint(reference)];
    expect(r.files).toEqual(f.files);
    expect(r.stepCount).toBe(f.stepCount);
    expect(r.losses).toEqual(f.losses.slice(2));
  }, 240_000);

  it("dp 2 · pp 2: the live workers write a sharded checkpoint, the crashing shard's from its other replica", async () => {
    const job = { name: "escpp2", dp: 2, pp: 2, tp: 1, steps: 4, recovery: { maxRestarts: 1, periodSeconds: 60 } };
    const configFile = writeTinyConfig(root, job);
    const crashing = rankAt(layoutOf(job), { dp: 0, pp: 1, tp: 0 });
    const runDir = path.join(root, "pp2");
    const { error } = await runJobFailing(configFile, runDir, {
      cluster,
      faults: [{ rank: crashing, step: 3, phase: "backward", signal: "SIGKILL", repeat: "every" }],
    });
    const saved = path.join(runDir, "checkpoints", "step-00000002");
    expect(error.message).toMatch(
      new RegExp(
        `^job escpp2 stopped: restart intensity exceeded \\(more than 1 restarts in 60000 ms\\); last failure: escpp2-w${crashing} killed by SIGKILL`,
      ),
    );
    expect(error.message).toContain(`; stopped with a checkpoint of step 2: ${saved}`);
    const m = readManifest(saved);
    expect([m.step, m.layout]).toMatchObject([2, { dp: 2, pp: 2, tp: 1 }]);

    const resumed = await runJob(configFile, runDir, { cluster, resume: true });
    const reference = await runJob(configFile, path.join(root, "reference-pp2"));
    const [r, f] = [fingerprint(resumed), fingerprint(reference)];
    expect(r.files).toEqual(f.files);
    expect(r.stepCount).toBe(f.stepCount);
    expect(r.losses).toEqual(f.losses.slice(2));
  }, 300_000);

  it("dp 1 · pp 2: no live copy of the crashing stage, so the newest existing checkpoint stands", async () => {
    const configFile = writeTinyConfig(root, {
      name: "escdp1",
      dp: 1,
      pp: 2,
      tp: 1,
      steps: 5,
      checkpointEvery: 2,
      recovery: { maxRestarts: 1, periodSeconds: 60 },
    });
    const runDir = path.join(root, "dp1");
    const { error } = await runJobFailing(configFile, runDir, {
      cluster,
      faults: [{ rank: 1, step: 5, phase: "backward", signal: "SIGKILL", repeat: "every" }],
    });
    expect(error.message).toMatch(
      /^job escdp1 stopped: restart intensity exceeded \(more than 1 restarts in 60000 ms\); last failure: escdp1-w1 killed by SIGKILL/,
    );
    // the first crash rolled the job back to step 4's checkpoint, or to step 2's if the crashed worker was still
    // writing its shard of step 4; the second crash escalated
    const stands = /; no live worker holds stage 1, tp rank 0: the newest existing checkpoint stands, (\S+step-0000000([24]))$/.exec(
      error.message,
    );
    expect(stands, error.message).not.toBeNull();
    const [, newest, step] = stands!;
    expect(newest).toBe(path.join(runDir, "checkpoints", `step-0000000${step}`));
    expect(existsSync(path.join(runDir, "checkpoints", "step-00000005"))).toBe(false);
    expect(await jobFailedEvents("escdp1")).toEqual([
      { cause: error.message, checkpoint: newest, checkpointStep: Number(step), checkpointWritten: false },
    ]);
  }, 180_000);
});
