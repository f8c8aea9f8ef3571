// `troupe restart --job` and `troupe inspect` end to end: a real dp 2 job (worker processes, supervisor, recovery)
// run on the test's shared nats-server, its coordinator serving its own job control subject
// (`troupe.<cluster>.job.<id>.control`), and the CLI as a child process.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Coordinator } from "../../actors/coordinator/coordinator.ts";
import { jobControlSubject } from "../../actors/coordinator/control.ts";
import { call, callRetrying } from "../../runtime/rpc.ts";
import { runJob, writeTinyConfig } from "../recovery/fixtures.ts";
import { startSharedCluster, type SharedCluster } from "../recovery/shared-cluster.ts";
import { troupe } from "./cli-troupe.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-control-"));
let cluster: SharedCluster;
beforeAll(async () => {
  cluster = await startSharedCluster("ctlrestart", 2);
});
afterAll(async () => {
  await cluster?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe("job control subject + troupe restart --job", () => {
  it("restarts a replica live through the CLI, answers describe, rejects bad targets with clear errors; inspect shows the restore", async () => {
    const { nc, ns, cliArgs: cli } = cluster;
    // runs until the checks are done (the CLI's child processes take seconds to start on a loaded machine)
    const configFile = writeTinyConfig(root, { name: "ctljob", dp: 2, pp: 1, tp: 1, steps: 1_000_000 });
    const stop = new AbortController();
    let checks: Promise<unknown> | undefined;
    let pidsBefore: (number | null)[] = [];
    let coordinator: Coordinator | undefined;
    await runJob(configFile, path.join(root, "run"), {
      cluster,
      stop: stop.signal,
      onStarted: (c) => {
        coordinator = c;
        pidsBefore = c.workerRecords().map((r) => r.pid);
        checks = (async () => {
          // the coordinator subscribes on its own connection just before onStarted: the server may not have its
          // subscription yet, so wait until the subject answers before the CLI (another connection) asks
          const description = await callRetrying(
            nc,
            jobControlSubject(ns, "ctljob"),
            { describe: true },
            { attemptMs: 5000, deadlineMs: 60_000 },
          );
          const [restarted, badStage, unknownJob, unknownWorker, garbage] = await Promise.all([
            troupe("restart", "--job", "ctljob", "--replica", "1", "--reason", "cli test", ...cli),
            troupe("restart", "--job", "ctljob", "--stage", "3", ...cli),
            troupe("restart", "--job", "nojob", "--stage", "0", ...cli),
            troupe("restart", "ctljob-w7", "--job", "ctljob", ...cli),
            call(nc, jobControlSubject(ns, "ctljob"), { restart: { stage: "x" }, reason: "r" }).then(
              () => "accepted",
              (e: Error) => e.message,
            ),
          ]);
          const pidsAfter = c.workerRecords().map((r) => r.pid);
          return { description, restarted, badStage, unknownJob, unknownWorker, garbage, pidsAfter };
        })().finally(() => stop.abort());
      },
    });
    const r = (await checks) as Awaited<
      ReturnType<
        () => Promise<{
          description: unknown;
          restarted: { code: number; stdout: string; stderr: string };
          badStage: { code: number; stderr: string };
          unknownJob: { code: number; stderr: string };
          unknownWorker: { code: number; stderr: string };
          garbage: string;
          pidsAfter: (number | null)[];
        }>
      >
    >;
    expect(r.description).toEqual({
      jobId: "ctljob",
      sizes: { dp: 2, pp: 1, tp: 1 },
      workers: [
        { id: "ctljob-w0", replica: 0, stage: 0, shard: 0, rank: 0 },
        { id: "ctljob-w1", replica: 1, stage: 0, shard: 0, rank: 1 },
      ],
    });
    expect(r.restarted.stderr).toBe("");
    expect(r.restarted.code).toBe(0);
    expect(r.restarted.stdout).toMatch(/job ctljob: restarted 1 worker\(s\)/);
    expect(r.restarted.stdout).toMatch(/ctljob-w1: state from peer ctljob-w0/);
    // only the restarted worker has a new process
    expect(r.pidsAfter[0]).toBe(pidsBefore[0]);
    expect(r.pidsAfter[1]).not.toBe(pidsBefore[1]);
    expect(coordinator!.recoveries.map((x) => [x.actorId, x.source, x.from])).toEqual([["ctljob-w1", "peer", "ctljob-w0"]]);
    expect(r.badStage.code).toBe(1);
    expect(r.badStage.stderr.trim()).toBe("troupe: stage 3 is out of range for job ctljob: valid stages are 0..0 (pp = 1)");
    expect(r.unknownJob.code).toBe(1);
    expect(r.unknownJob.stderr).toMatch(/^troupe: unknown job 'nojob'/);
    expect(r.unknownWorker.stderr).toMatch(/job ctljob has no worker 'ctljob-w7'/);
    expect(r.garbage).toMatch(/^invalid message/);
    // where the restarted worker's state came from, read back from the cluster after the job
    const inspected = await troupe("inspect", "ctljob-w1", ...cli);
    expect(inspected.code).toBe(0);
    expect(inspected.stdout).toMatch(/^restored {5}1 time\(s\)$/m);
    expect(inspected.stdout).toMatch(
      /^ {2}\S+ {2}epoch 2, step \d+: state from peer ctljob-w0 in \d+ ms \(lost: restarted by operator: cli test\)$/m,
    );
    const json = JSON.parse((await troupe("inspect", "ctljob-w1", ...cli, "--json")).stdout) as {
      restores: { source: string; from: string; checkpointStep: number | null; seconds: number }[];
    };
    expect(json.restores).toMatchObject([{ source: "peer", from: "ctljob-w0", checkpointStep: null }]);
    expect((await troupe("inspect", "ctljob-w0", ...cli)).stdout).toMatch(/^restored {5}never$/m);
  }, 300_000);

  it("checks flags before connecting", async () => {
    const [noJob, badNumber] = await Promise.all([
      troupe("restart", "--stage", "1", "--nats", "nats://127.0.0.1:1"),
      troupe("restart", "--job", "j", "--replica", "one", "--nats", "nats://127.0.0.1:1"),
    ]);
    expect(noJob.stderr.trim()).toBe("troupe: --stage and --replica need --job <id>");
    expect(badNumber.stderr.trim()).toBe("troupe: --replica must be a whole number ≥ 0, got 'one'");
  }, 60_000);
});
