// The step protocol against live worker processes: lifecycle transitions in KV and events, committed
// steps, stale-epoch and out-of-order messages rejected while the workers keep serving.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Coordinator } from "../../actors/coordinator/coordinator.ts";
import { connectOrEmbed } from "../../runtime/cluster/embedded-cluster.ts";
import { JobStore } from "../../actors/coordinator/job-store.ts";
import { parseTrainConfig } from "../../ml/train/config.ts";
import { workerSubject, type WorkerStatus } from "../../actors/worker/protocol.ts";
import { createRootLogger } from "../../runtime/logger.ts";
import { LifecycleStore } from "../../runtime/lifecycle-recorder.ts";
import { call } from "../../runtime/rpc.ts";
import { writeCollectiveKeyFile } from "../../runtime/collectives/collective-key.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-proto-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const config = parseTrainConfig({
  name: "proto",
  seed: 5,
  model: { layers: 1, dModel: 8, heads: 1, seqLen: 8 },
  data: { corpus: "brown", vocabSize: 260, heldOutPerGenre: 1 },
  optimizer: { lr: 0.01 },
  batch: { size: 4, microBatch: 1 },
  schedule: { warmupTokens: 8, decayTokens: 1000 },
  train: { steps: 2 },
  eval: { interval: 10, batches: 1 },
  checkpoint: { interval: 10, keep: 1 },
  parallel: { dp: 2 },
});

describe("step protocol with live workers", () => {
  it("commits steps, records lifecycles, and rejects stale-epoch and out-of-order messages", async () => {
    const logger = createRootLogger({ name: "test", level: "warn" });
    const cluster = await connectOrEmbed({ clusterId: "proto", dir: root, slots: 2, logger });
    const jobFile = path.join(root, "job.json");
    writeFileSync(
      jobFile,
      JSON.stringify({
        jobId: "proto",
        session: "proto-s1",
        config,
        collectiveKeyFile: writeCollectiveKeyFile(root),
        backendsModule: path.resolve("test/distributed/fixtures/markov-gpt-backends.ts"),
      }),
    );
    const coordinator = new Coordinator(
      { nc: cluster.nc, ns: cluster.ns, registry: cluster.registry, events: cluster.events, logger },
      { jobId: "proto", jobFile, dp: 2, microBatch: 1, clip: 1 },
    );
    try {
      await coordinator.start();
      const w0 = coordinator.workers[0]!.id;
      const c1 = await coordinator.runStep({ step: 1, lr: 0.01, batchSize: 4, firstSample: 0, tokensAfter: 32 });
      expect(c1.step).toBe(1);
      expect(Number.isFinite(c1.loss)).toBe(true);

      // a step of an older epoch (a zombie coordinator) is refused, and the worker keeps serving
      const stale = { epoch: 0, step: 2, lr: 0.01, firstSample: 4, microBatches: 2, microBatch: 1, totalMicroBatches: 4 };
      await expect(call(cluster.nc, workerSubject(cluster.ns, w0, "step"), stale, 5000)).rejects.toThrow(
        /epoch 0 is older than the current epoch 1/,
      );
      // apply without a step in flight is refused too
      await expect(
        call(cluster.nc, workerSubject(cluster.ns, w0, "apply"), { epoch: 1, step: 2, lr: 0.01, clipScale: 1 }, 5000),
      ).rejects.toThrow(/apply\(2\) asked while idle/);
      const status = (await coordinator.status(w0)) as WorkerStatus;
      expect(status).toMatchObject({ state: "idle", step: 1, committed: 1, rejected: 1 });

      const c2 = await coordinator.runStep({ step: 2, lr: 0.01, batchSize: 4, firstSample: 4, tokensAfter: 64 });
      expect(c2.samplesSeen).toBe(8);
      expect((await JobStore.open(cluster.nc, cluster.ns, cluster.events).then((s) => s.latest("proto")))?.step).toBe(2);

      const events = await cluster.events.readAll();
      const committed = events.filter((e) => e.type === "step.committed" && e.subject === "proto").map((e) => e.data.step);
      expect(committed).toEqual([1, 2]);
      // each worker's busy seconds of the step, from its ready report
      const busy = events.find((e) => e.type === "step.committed" && e.data.step === 2)!.data.busySeconds as Record<string, number>;
      expect(Object.keys(busy).sort()).toEqual(coordinator.workers.map((w) => w.id).sort());
      for (const s of Object.values(busy)) expect(s).toBeGreaterThanOrEqual(0);
      const workerStates = events.filter((e) => e.type === "worker.transition" && e.subject === w0).map((e) => e.data.to);
      expect(workerStates).toEqual([
        "booting",
        "joining",
        "loading",
        "idle",
        "stepping",
        "applying",
        "idle",
        "stepping",
        "applying",
        "idle",
      ]);
      expect(events.some((e) => e.type === "message.rejected" && e.subject === w0 && e.data.kind === "StaleEpochError")).toBe(true);
      const lifecycles = await LifecycleStore.open(cluster.nc, cluster.ns);
      expect((await lifecycles.get("job", "proto"))?.value).toBe("training");
      expect(coordinator.workerRecords().map((r) => r.state)).toEqual(["alive", "alive"]);
      await coordinator.stop({ finished: true });
      expect((await lifecycles.get("job", "proto"))?.value).toBe("completed");
      expect((await lifecycles.get("worker", w0))?.value).toBe("stopped");
    } finally {
      await coordinator.stop({ finished: false, cause: "test ended" }).catch(() => undefined);
      await cluster.close();
    }
  }, 60_000);

  it("fails the job with the cause when a worker process dies, and stops cleanly", async () => {
    const logger = createRootLogger({ name: "test", level: "fatal" });
    const dir = path.join(root, "kill");
    const cluster = await connectOrEmbed({ clusterId: "prokill", dir, slots: 2, logger });
    const jobFile = path.join(root, "job-kill.json");
    writeFileSync(
      jobFile,
      JSON.stringify({
        jobId: "kill",
        session: "kill-s1",
        config,
        collectiveKeyFile: writeCollectiveKeyFile(root),
        backendsModule: path.resolve("test/distributed/fixtures/markov-gpt-backends.ts"),
      }),
    );
    const coordinator = new Coordinator(
      { nc: cluster.nc, ns: cluster.ns, registry: cluster.registry, events: cluster.events, logger },
      // no restart allowed: the first loss escalates (live recovery is tested in test/recovery)
      { jobId: "kill", jobFile, dp: 2, microBatch: 1, clip: 1, intensity: { maxRestarts: 0, periodMs: 60_000 } },
    );
    try {
      await coordinator.start();
      await coordinator.runStep({ step: 1, lr: 0.01, batchSize: 4, firstSample: 0, tokensAfter: 32 });
      const victim = await cluster.registry.getActor("kill-w1");
      process.kill(victim!.pid!, "SIGKILL");
      const deadline = Date.now() + 10_000;
      while (coordinator.workerRecords()[1]!.state === "alive" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await expect(coordinator.runStep({ step: 2, lr: 0.01, batchSize: 4, firstSample: 4, tokensAfter: 64 })).rejects.toThrow(
        /worker kill-w1 (failed|dead)|stopped: restart intensity exceeded .*; last failure: kill-w1 /,
      );
      await coordinator.stop({ finished: false, cause: "worker lost" });
      const lifecycles = await LifecycleStore.open(cluster.nc, cluster.ns);
      expect((await lifecycles.get("job", "kill"))?.value).toBe("failed");
    } finally {
      await coordinator.stop({ finished: false, cause: "test ended" }).catch(() => undefined);
      await cluster.close();
    }
  }, 60_000);

  it("a worker that cannot load fails the job with its error line", async () => {
    const logger = createRootLogger({ name: "test", level: "fatal" });
    const cluster = await connectOrEmbed({ clusterId: "probad", dir: path.join(root, "bad"), slots: 2, logger });
    const jobFile = path.join(root, "job-bad.json");
    // a module without createBackends(): every worker exits while loading
    writeFileSync(
      jobFile,
      JSON.stringify({
        jobId: "bad",
        session: "bad-s1",
        config,
        collectiveKeyFile: writeCollectiveKeyFile(root),
        backendsModule: path.resolve("runtime/death-cause.ts"),
      }),
    );
    const coordinator = new Coordinator(
      { nc: cluster.nc, ns: cluster.ns, registry: cluster.registry, events: cluster.events, logger },
      { jobId: "bad", jobFile, dp: 2, microBatch: 1, clip: 1 },
    );
    try {
      await expect(coordinator.start()).rejects.toThrow(
        /worker bad-w[01] (failed|dead): .*JobSpecError: backends module .*death-cause.ts does not export createBackends\(\)/,
      );
    } finally {
      await coordinator.stop({ finished: false, cause: "test ended" }).catch(() => undefined);
      await cluster.close();
    }
  }, 60_000);
});
