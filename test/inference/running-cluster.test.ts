// An inference job on a running cluster (--nats): a host agent of that cluster starts the workers; the job
// leaves the cluster's server and agent running when it closes, and the workers' lifecycles are on record.
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { HostAgent } from "../../runtime/agent/host-agent.ts";
import { generate } from "../../ml/generate/generate.ts";
import { startInferenceJob } from "../../actors/inference/driver.ts";
import { connectNats } from "../../runtime/connection.ts";
import { EventLog } from "../../runtime/event-log.ts";
import { LifecycleStore } from "../../runtime/lifecycle-recorder.ts";
import { namespace } from "../../runtime/namespace.ts";
import { Registry } from "../../runtime/registry.ts";
import { encode, saveSingle, TINY, trainedTinyModel } from "./fixture.ts";

describe("inference on a running cluster", { timeout: 90_000 }, () => {
  const clusterId = `inf${randomUUID().slice(0, 8)}`;
  let dir: string;
  let nc: NatsConnection;
  let agent: HostAgent;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "troupe-infer-cluster-"));
    nc = await connectNats({ url: inject("natsUrl") });
    const ns = namespace(clusterId);
    agent = new HostAgent({
      nc,
      ns,
      registry: await Registry.open(nc, ns),
      events: await EventLog.open(nc, ns),
      logger: pino({ level: "silent" }),
      name: "h1",
      slots: 4,
      natsUrl: inject("natsUrl"),
    });
    await agent.start();
  });
  afterAll(async () => {
    await agent.stop();
    await nc.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("runs pp 2 workers through the cluster's host agent and generates as one process does", async () => {
    const model = await trainedTinyModel();
    const checkpoint = saveSingle(model, path.join(dir, "checkpoints"));
    const expected = await generate(model, encode("the cat"), { maxNewTokens: 20, sampling: { temperature: 0 } });
    const job = await startInferenceJob({
      checkpoint,
      config: TINY,
      pp: 2,
      tp: 1,
      natsUrl: inject("natsUrl"),
      clusterId,
      dir: path.join(dir, "job"),
    });
    const ids = job.workers.map((w) => w.id);
    try {
      expect((await job.generate(encode("the cat"), { maxNewTokens: 20, sampling: { temperature: 0 } })).tokens).toEqual(expected.tokens);
    } finally {
      await job.close();
    }
    expect(nc.isClosed()).toBe(false); // the cluster is not the job's to stop
    const lifecycles = await LifecycleStore.open(nc, namespace(clusterId));
    for (const id of ids) expect((await lifecycles.get("worker", id))?.value).toBe("stopped");
  });
});
