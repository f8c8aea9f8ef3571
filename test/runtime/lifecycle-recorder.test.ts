import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { NatsConnection } from "@nats-io/transport-node";
import { createActor } from "xstate";
import { connectNats } from "../../runtime/connection.ts";
import { EventLog } from "../../runtime/event-log.ts";
import { LifecycleStore, recordLifecycle } from "../../runtime/lifecycle-recorder.ts";
import { jobMachine } from "../../actors/coordinator/job-machine.ts";
import { namespace } from "../../runtime/namespace.ts";

describe("lifecycle recorder", () => {
  const ns = namespace(`t${randomUUID().slice(0, 8)}`);
  let nc: NatsConnection;
  beforeAll(async () => {
    nc = await connectNats({ url: inject("natsUrl") });
  });
  afterAll(async () => {
    await nc.close();
  });

  it("writes each job transition to KV and the event stream, once", async () => {
    const store = await LifecycleStore.open(nc, ns);
    const events = await EventLog.open(nc, ns);
    const job = createActor(jobMachine).start();
    const rec = await recordLifecycle(job, { kind: "job", id: "j1", store, events });
    job.send({ type: "PROVISIONED" });
    job.send({ type: "INITIALIZED" });
    job.send({ type: "STEP_COMMITTED", step: 0 }); // context only: not a transition
    job.send({ type: "FAILURE", actorId: "w3", cause: "killed by SIGKILL" });
    job.send({ type: "RECOVERED" });
    job.send({ type: "FINISHED" });
    await rec.settled();
    rec.stop();
    const kv = await store.get("job", "j1");
    expect(kv).toMatchObject({ value: "completed", status: "done", seq: 6, context: { committedStep: 0, recoveries: 1 } });
    const path = (await events.readAll("j1")).map((e) => [e.data.from, e.data.to]);
    expect(path).toEqual([
      [null, "provisioning"],
      ["provisioning", "initializing"],
      ["initializing", "training"],
      ["training", { recovering: "waiting" }],
      [{ recovering: "waiting" }, "training"],
      ["training", "completed"],
    ]);
    // a second recorder for the same job continues the sequence instead of colliding with old ids
    const again = createActor(jobMachine).start();
    const rec2 = await recordLifecycle(again, { kind: "job", id: "j1", store, events });
    await rec2.settled();
    expect((await store.get("job", "j1"))!.seq).toBe(7);
    expect(await events.readAll("j1")).toHaveLength(7);
  });
});
