// The served-actor plumbing against the test's real nats-server: a served actor in this process, asked over
// NATS like a coordinator asks its workers. Bad requests are refused with an error reply and a message.rejected
// event, an older epoch is fenced and a newer one adopted (through a join verb, never a status), status answers while a verb is busy, and drain does
// its work once however often it is asked, leaving status and drain answering and every other verb unserved.
import { randomUUID } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterEach, beforeEach, describe, expect, inject, it } from "vitest";
import { setup } from "xstate";
import { z } from "zod";
import { deferred, pollUntil } from "../../runtime/async.ts";
import { decode, encode } from "../../runtime/codec.ts";
import { connectNats } from "../../runtime/connection.ts";
import { EventLog } from "../../runtime/event-log.ts";
import { LifecycleStore } from "../../runtime/lifecycle-recorder.ts";
import { namespace, type Namespace } from "../../runtime/namespace.ts";
import { call } from "../../runtime/rpc.ts";
import { ServedActor, type ServedEvent } from "../../runtime/served-actor.ts";

const probeMachine = setup({ types: { events: {} as ServedEvent | { type: "LOADED" } } }).createMachine({
  id: "probe",
  initial: "booting",
  on: { DRAIN: ".draining" },
  states: {
    booting: { on: { BOOTED: "loading" } },
    loading: { on: { LOADED: "idle" } },
    idle: {},
    draining: { on: { DRAINED: "stopped" } },
    stopped: { type: "final" },
  },
});

type Verb = "status" | "drain" | "echo" | "hold";
const subjectOf = (ns: Namespace, actorId: string, verb: Verb) => `troupe.${ns.clusterId}.probe.${actorId}.${verb}`;
const echoSchema = z.object({ epoch: z.number().int().min(0), text: z.string() });

interface Probe {
  served: ServedActor<typeof probeMachine, Verb>;
  ns: Namespace;
  subject: (verb: Verb) => string;
  /** Resolves the pending `hold` request. */
  hold: ReturnType<typeof deferred<void>>;
  released: number;
}

let nc: NatsConnection;
let probe: Probe;

beforeEach(async () => {
  nc = await connectNats({ url: inject("natsUrl"), name: "served-actor-test" });
  const clusterId = `served${randomUUID().slice(0, 8)}`;
  const env = { actorId: "p0", clusterId, natsUrl: inject("natsUrl"), heartbeatMs: 500, epoch: 2, coords: {} };
  const p: Probe = {
    ns: namespace(clusterId),
    subject: (verb) => subjectOf(namespace(clusterId), "p0", verb),
    hold: deferred<void>(),
    released: 0,
    served: new ServedActor({
      env,
      machine: probeMachine,
      kind: "probe",
      subject: subjectOf,
      status: () => ({ state: p.served.state, epoch: p.served.process.epoch, rejected: p.served.rejected }),
      // a newer epoch is entered only through these (as a worker enters one only through recover and halt)
      joinVerbs: ["echo", "hold"],
      release: async () => {
        p.released++;
      },
    }),
  };
  probe = p;
  await p.served.boot();
  p.served.serveVerb("echo", echoSchema, (r) => ({ text: r.text }));
  p.served.serveVerb("hold", echoSchema, async () => {
    await p.hold;
    return { held: true };
  });
  p.served.lifecycle.send({ type: "LOADED" });
  await p.served.process.connection.flush(); // its subscriptions are on the server
});

afterEach(async () => {
  probe.hold.resolve();
  await probe.served.stop();
  await nc.close();
});

describe("a served actor", { timeout: 30_000 }, () => {
  it("refuses a bad request with an error reply and a message.rejected event, and keeps serving", async () => {
    const raw = async (bytes: Uint8Array) => decode((await nc.request(probe.subject("echo"), bytes, { timeout: 5000 })).data);
    expect(await raw(Uint8Array.from([0xc4, 0xff, 0x01]))).toMatchObject({ ok: false, kind: "CodecError" });
    expect(await raw(encode({ epoch: 2, text: 5 }))).toMatchObject({
      ok: false,
      kind: "SchemaError",
      error: expect.stringMatching(/at 'text'/),
    });
    expect(await call(nc, probe.subject("echo"), { epoch: 2, text: "hi" }, 5000)).toEqual({ text: "hi" });
    expect(await call(nc, probe.subject("status"), { epoch: 2 }, 5000)).toEqual({ state: "idle", epoch: 2, rejected: 2 });

    const events = await EventLog.open(nc, probe.ns);
    const kinds = await pollUntil(
      async () => {
        const rejected = (await events.readAll()).filter((e) => e.type === "message.rejected" && e.subject === "p0");
        return rejected.length >= 2 ? rejected.map((e) => e.data.kind) : undefined;
      },
      { what: "two message.rejected events", timeoutMs: 10_000 },
    );
    expect(kinds).toEqual(["CodecError", "SchemaError"]);
  });

  it("fences requests of an older epoch and adopts a newer one", async () => {
    await expect(call(nc, probe.subject("echo"), { epoch: 1, text: "zombie" }, 5000)).rejects.toThrow(
      /epoch 1 is older than the current epoch 2/,
    );
    expect(await call(nc, probe.subject("echo"), { epoch: 3, text: "newer" }, 5000)).toEqual({ text: "newer" });
    expect(probe.served.process.epoch).toBe(3);
    // the epoch just left is now stale too, on every verb
    await expect(call(nc, probe.subject("echo"), { epoch: 2, text: "late" }, 5000)).rejects.toThrow(
      /epoch 2 is older than the current epoch 3/,
    );
    await expect(call(nc, probe.subject("status"), { epoch: 2 }, 5000)).rejects.toThrow(/older than the current epoch 3/);
    expect(await call(nc, probe.subject("status"), { epoch: 3 }, 5000)).toEqual({ state: "idle", epoch: 3, rejected: 3 });
  });

  it("with join verbs, a status of a newer epoch is answered but joins nothing; a join verb enters it", async () => {
    expect(await call(nc, probe.subject("status"), { epoch: 5 }, 5000)).toEqual({ state: "idle", epoch: 2, rejected: 0 });
    expect(probe.served.process.epoch).toBe(2);
    // still a member of epoch 2: its requests are served, not fenced as stale
    expect(await call(nc, probe.subject("echo"), { epoch: 2, text: "same" }, 5000)).toEqual({ text: "same" });
    expect(await call(nc, probe.subject("echo"), { epoch: 5, text: "join" }, 5000)).toEqual({ text: "join" });
    expect(probe.served.process.epoch).toBe(5);
  });

  it("answers status while a verb is busy", async () => {
    const held = call(nc, probe.subject("hold"), { epoch: 2, text: "" }, 10_000);
    expect(await call(nc, probe.subject("status"), { epoch: 2 }, 5000)).toMatchObject({ state: "idle" });
    probe.hold.resolve();
    expect(await held).toEqual({ held: true });
  });

  it("drains once however often asked; status and drain still answer, other verbs are no longer served", async () => {
    const asked = await Promise.all([1, 2, 3].map(() => call(nc, probe.subject("drain"), { epoch: 2 }, 10_000)));
    expect(asked).toEqual([{ state: "stopped" }, { state: "stopped" }, { state: "stopped" }]);
    expect(await call(nc, probe.subject("drain"), { epoch: 2 }, 5000)).toEqual({ state: "stopped" });
    expect(probe.released).toBe(1);
    expect(await call(nc, probe.subject("status"), { epoch: 2 }, 5000)).toMatchObject({ state: "stopped" });
    await expect(call(nc, probe.subject("echo"), { epoch: 2, text: "after" }, 5000)).rejects.toThrow(/nobody answers/);
    // a verb added once drained (a load finishing late) is not served either
    probe.served.serveVerb("echo", echoSchema, (r) => ({ text: r.text }));
    await probe.served.process.connection.flush();
    await expect(call(nc, probe.subject("echo"), { epoch: 2, text: "late" }, 5000)).rejects.toThrow(/nobody answers/);

    // every transition was recorded before drain answered
    const record = await (await LifecycleStore.open(nc, probe.ns)).get("probe", "p0");
    expect(record).toMatchObject({ value: "stopped", status: "done" });
    const events = await EventLog.open(nc, probe.ns);
    const path = (await events.readAll()).filter((e) => e.type === "probe.transition" && e.subject === "p0").map((e) => e.data.to);
    expect(path).toEqual(["booting", "loading", "idle", "draining", "stopped"]);
  });
});
