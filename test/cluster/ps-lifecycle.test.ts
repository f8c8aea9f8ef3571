// `troupe ps` shows each worker's own lifecycle phase beside the supervisor state: records written
// through the real LifecycleStore / recordLifecycle on a real nats-server, read back by the real CLI
// (text and --json), and during a real distributed run whose workers are held in "stepping".
import { execFile, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, inject, it } from "vitest";
import { createActor } from "xstate";
import { jetstreamManager } from "@nats-io/jetstream";
import { Coordinator } from "../../actors/coordinator/coordinator.ts";
import { connectOrEmbed } from "../../runtime/cluster/embedded-cluster.ts";
import { parseTrainConfig } from "../../ml/train/config.ts";
import { workerSubject } from "../../actors/worker/protocol.ts";
import { actorTable } from "../../cli/cluster/format.ts";
import { psRows, readActorPhases, type PsRow } from "../../cli/commands/ps.ts";
import { connectNats } from "../../runtime/connection.ts";
import { EventLog } from "../../runtime/event-log.ts";
import { LifecycleStore, recordLifecycle } from "../../runtime/lifecycle-recorder.ts";
import { createRootLogger } from "../../runtime/logger.ts";
import { workerMachine, type WorkerEvent } from "../../actors/worker/worker-machine.ts";
import { namespace } from "../../runtime/namespace.ts";
import { Registry } from "../../runtime/registry.ts";
import { call } from "../../runtime/rpc.ts";
import type { ActorRecord } from "../../runtime/types.ts";
import { repoRoot } from "./harness.ts";
import { writeCollectiveKeyFile } from "../../runtime/collectives/collective-key.ts";

const run = promisify(execFile);
const troupeArgv = ["--import", "tsx", path.join(repoRoot, "test", "cluster", "runtime-cli.ts")];

async function troupe(...args: string[]): Promise<string> {
  const r = await run(process.execPath, [...troupeArgv, ...args], { cwd: repoRoot, timeout: 60_000 });
  expect(r.stderr).toBe("");
  return r.stdout;
}

function actorRecord(id: string, d: number): ActorRecord {
  return {
    id,
    supervisor: "job",
    coords: { d },
    host: "h1",
    pid: 1000 + d,
    state: "alive",
    restarts: 0,
    step: 3,
    epoch: 1,
    lastHeartbeat: Date.now(),
    deathCause: null,
    seq: 1,
    updatedAt: Date.now(),
    snapshot: null,
  };
}

async function until<T>(read: () => Promise<T>, pred: (v: T) => boolean, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  let v = await read();
  while (!pred(v) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    v = await read();
  }
  return v;
}

describe("troupe ps: worker phases", { timeout: 120_000 }, () => {
  it("shows the phase each worker recorded, beside the supervisor state, in the table and in --json", async () => {
    const url = inject("natsUrl");
    const clusterId = `ps${randomUUID().slice(0, 8)}`;
    const ns = namespace(clusterId);
    const nc = await connectNats({ url, name: "ps-test" });
    try {
      const registry = await Registry.open(nc, ns);
      const events = await EventLog.open(nc, ns);
      for (const [k, id] of ["w0", "w1", "a2"].entries()) await registry.putActor(actorRecord(id, k));
      const cli = ["--nats", url, "--cluster-id", clusterId];

      // No worker has written a lifecycle yet: no PHASE column, phase null, and ps creates no bucket.
      expect(await troupe("ps", ...cli)).toMatch(/^ACTOR\s+COORDS\s+HOST\s+PID\s+STATE\s+RESTARTS\s+STEP\s+HEARTBEAT\n/);
      expect((JSON.parse(await troupe("ps", ...cli, "--json")) as PsRow[]).map((r) => r.phase)).toEqual([null, null, null]);
      const jsm = await jetstreamManager(nc);
      await expect(jsm.streams.info(`KV_${ns.lifecyclesBucket}`)).rejects.toThrow(/stream not found/);

      const store = await LifecycleStore.open(nc, ns);
      const drive = async (id: string, evs: WorkerEvent[]) => {
        const actor = createActor(workerMachine).start();
        const rec = await recordLifecycle(actor, { kind: "worker", id, store, events });
        for (const e of evs) actor.send(e);
        await rec.settled();
        rec.stop();
      };
      const loaded: WorkerEvent[] = [{ type: "BOOTED" }, { type: "JOINED", epoch: 1 }, { type: "LOADED" }];
      await drive("w0", [...loaded, { type: "STEP", step: 4, epoch: 1 }]);
      await drive("w1", [...loaded, { type: "STEP", step: 4, epoch: 1 }, { type: "APPLY" }]);
      // a job lifecycle with an actor's id is not that actor's phase
      await store.put({ kind: "job", id: "a2", value: "training", context: {}, status: "active", seq: 1, updatedAt: Date.now() });

      const text = await troupe("ps", ...cli);
      const lines = text.trimEnd().split("\n");
      expect(lines[0]).toMatch(/^ACTOR\s+COORDS\s+HOST\s+PID\s+STATE\s+PHASE\s+RESTARTS\s+STEP\s+HEARTBEAT$/);
      expect(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 6))).toEqual([
        ["a2", "d2", "h1", "1002", "alive", "-"],
        ["w0", "d0", "h1", "1000", "alive", "stepping"],
        ["w1", "d1", "h1", "1001", "alive", "applying"],
      ]);
      const json = JSON.parse(await troupe("ps", ...cli, "--json")) as PsRow[];
      expect(json.map((r) => [r.id, r.state, r.phase])).toEqual([
        ["a2", "alive", null],
        ["w0", "alive", "stepping"],
        ["w1", "alive", "applying"],
      ]);

      // --watch --json: one line per record, then one more when a phase changes; Ctrl-C ends it cleanly
      const watch = spawn(process.execPath, [...troupeArgv, "ps", ...cli, "--watch", "--json"], { cwd: repoRoot });
      let out = "";
      watch.stdout.on("data", (b: Buffer) => (out += b.toString()));
      const exited = new Promise<number | null>((resolve) => watch.on("exit", (code) => resolve(code)));
      try {
        const watched = () =>
          Promise.resolve(
            out
              .split("\n")
              .filter(Boolean)
              .map((l) => JSON.parse(l) as PsRow),
          );
        const first = await until(watched, (rows) => rows.length >= 3, 60_000);
        expect(first.map((r) => [r.id, r.phase]).sort()).toEqual([
          ["a2", null],
          ["w0", "stepping"],
          ["w1", "applying"],
        ]);
        // the latest write wins: w0 finishes its step
        await drive("w0", [...loaded, { type: "STEP", step: 4, epoch: 1 }, { type: "APPLY" }, { type: "APPLIED" }]);
        const after = await until(watched, (rows) => rows.length >= 4);
        expect(after.slice(3).map((r) => [r.id, r.phase])).toEqual([["w0", "idle"]]);
      } finally {
        watch.kill("SIGINT");
      }
      expect(await exited).toBe(0);
      expect((await readActorPhases(nc, ns)).get("w0")).toBe("idle");
    } finally {
      await nc.close();
    }
  });

  it("shows live workers of a distributed run stepping, then idle, then stopped", async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), "troupe-ps-live-"));
    const logger = createRootLogger({ name: "test", level: "warn" });
    const cluster = await connectOrEmbed({ clusterId: "pslive", dir: root, slots: 2, logger });
    const config = parseTrainConfig({
      name: "pslive",
      seed: 5,
      model: { layers: 1, dModel: 8, heads: 1, seqLen: 8 },
      data: { corpus: "brown", vocabSize: 260, heldOutPerGenre: 1 },
      optimizer: { lr: 0.01 },
      batch: { size: 4, microBatch: 1 },
      schedule: { warmupTokens: 8, decayTokens: 1000 },
      train: { steps: 1 },
      eval: { interval: 10, batches: 1 },
      checkpoint: { interval: 10, keep: 1 },
      parallel: { dp: 2 },
    });
    const jobFile = path.join(root, "job.json");
    writeFileSync(
      jobFile,
      JSON.stringify({
        jobId: "pslive",
        session: "pslive-s1",
        config,
        collectiveKeyFile: writeCollectiveKeyFile(root),
        backendsModule: path.resolve(repoRoot, "test/distributed/fixtures/markov-gpt-backends.ts"),
      }),
    );
    const coordinator = new Coordinator(
      { nc: cluster.nc, ns: cluster.ns, registry: cluster.registry, events: cluster.events, logger },
      { jobId: "pslive", jobFile, dp: 2, microBatch: 1, clip: 1 },
    );
    const snapshot = async () => psRows(await cluster.registry.listActors(), await readActorPhases(cluster.nc, cluster.ns));
    try {
      await coordinator.start();
      const ids = coordinator.workers.map((w) => w.id);
      const idle = await until(snapshot, (rows) => rows.every((r) => r.phase === "idle"));
      expect(idle.map((r) => [r.id, r.state, r.phase])).toEqual(ids.map((id) => [id, "alive", "idle"]));

      // step(1) without apply: a worker stays in "stepping" until the coordinator tells it to apply
      const epoch = coordinator.epoch;
      await Promise.all(
        coordinator.workers.map((w, d) =>
          call(
            cluster.nc,
            workerSubject(cluster.ns, w.id, "step"),
            { epoch, step: 1, lr: 0.01, firstSample: 2 * d, microBatches: 2, microBatch: 1, totalMicroBatches: 4 },
            30_000,
          ),
        ),
      );
      const stepping = await until(snapshot, (rows) => rows.every((r) => r.phase === "stepping"));
      expect(stepping.map((r) => r.phase)).toEqual(["stepping", "stepping"]);
      const records = await cluster.registry.listActors();
      const table = actorTable(records, Date.now(), await readActorPhases(cluster.nc, cluster.ns));
      expect(
        table
          .split("\n")
          .slice(1)
          .map((l) => l.split(/\s+/).slice(4, 6)),
      ).toEqual([
        ["alive", "stepping"],
        ["alive", "stepping"],
      ]);

      await Promise.all(
        coordinator.workers.map((w) =>
          call(cluster.nc, workerSubject(cluster.ns, w.id, "apply"), { epoch, step: 1, lr: 0.01, clipScale: 1 }, 30_000),
        ),
      );
      expect((await until(snapshot, (rows) => rows.every((r) => r.phase === "idle"))).map((r) => r.phase)).toEqual(["idle", "idle"]);

      await coordinator.stop({ finished: true });
      expect((await until(snapshot, (rows) => rows.every((r) => r.phase === "stopped"))).map((r) => r.phase)).toEqual([
        "stopped",
        "stopped",
      ]);
    } finally {
      await coordinator.stop({ finished: false, cause: "test ended" }).catch(() => undefined);
      await cluster.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});
