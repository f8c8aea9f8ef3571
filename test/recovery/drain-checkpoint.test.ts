// A graceful stop never leaves a half-written checkpoint: a worker (the real Worker on the test's shared
// nats-server, one rank so it needs no peers) is asked for a checkpoint, which answers after the memory copy and
// writes in the background, and at once to drain. By the time drain answers, the checkpoint is whole: `latest`
// names it and every file matches its manifest's size and sha256.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { latestCheckpointDir, loadCheckpoint } from "../../ml/checkpoint/store.ts";
import { parseTrainConfig } from "../../ml/train/config.ts";
import { workerSubject } from "../../actors/worker/protocol.ts";
import { Worker } from "../../actors/worker/worker.ts";
import { connectNats } from "../../runtime/connection.ts";
import { namespace } from "../../runtime/namespace.ts";
import { call } from "../../runtime/rpc.ts";
import { createBackends } from "../distributed/fixtures/markov-gpt-backends.ts";
import { writeCollectiveKeyFile } from "../../runtime/collectives/collective-key.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-recovery-drain-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("worker drain with a checkpoint being written", () => {
  it("answers only once the background write is whole", async () => {
    // large enough (about 40 MB of parameters and moments) that the write outlasts a drain that does not wait for it
    const config = parseTrainConfig({
      name: "drain",
      model: { layers: 4, dModel: 256, heads: 4, seqLen: 8 },
      data: { corpus: "brown", vocabSize: 260 },
      optimizer: { lr: 0.01 },
      batch: { size: 2, microBatch: 2 },
      schedule: { warmupTokens: 32, decayTokens: 5000 },
      train: { steps: 1 },
      eval: { interval: 1, batches: 1 },
      checkpoint: { interval: 1 },
    });
    const env = {
      actorId: "drain-w0",
      clusterId: "recdrain",
      natsUrl: inject("natsUrl"),
      heartbeatMs: 500,
      epoch: 1,
      coords: { d: 0, p: 0, t: 0, rank: 0 },
    };
    const worker = new Worker(
      env,
      {
        jobId: "drain",
        session: "drain-s1",
        config,
        collectiveKeyFile: writeCollectiveKeyFile(root),
        rendezvousTimeoutMs: 30_000,
        faults: [],
      },
      createBackends(),
    );
    const nc = await connectNats({ url: inject("natsUrl"), name: "drain-test" });
    const subject = (verb: "checkpoint" | "drain") => workerSubject(namespace("recdrain"), "drain-w0", verb);
    try {
      await worker.start();
      await worker.actor.connection.flush(); // its subscriptions are on the server
      expect(worker.state).toBe("idle");
      const checkpoints = path.join(root, "checkpoints");
      const copied = (await call(
        nc,
        subject("checkpoint"),
        { epoch: 1, step: 0, tokensSeen: 0, samplesSeen: 0, root: checkpoints, keep: 2, metrics: {} },
        30_000,
      )) as { dir: string; written: boolean };
      expect(copied).toEqual({ dir: path.join(checkpoints, "step-00000000"), written: false });
      const drained = await call(nc, subject("drain"), { epoch: 1 }, 60_000);
      expect(drained).toEqual({ state: "stopped" });
      expect(latestCheckpointDir(checkpoints)).toBe(copied.dir);
      const ckpt = loadCheckpoint(copied.dir); // checks every file's size and sha256
      expect(ckpt.manifest.step).toBe(0);
      expect(ckpt.params.size).toBeGreaterThan(0);
    } finally {
      await worker.stop();
      await nc.close();
    }
  }, 120_000);
});
