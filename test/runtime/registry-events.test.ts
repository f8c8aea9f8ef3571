import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { NatsConnection } from "@nats-io/transport-node";
import { randomUUID } from "node:crypto";
import { connectNats } from "../../runtime/connection.ts";
import { EventLog } from "../../runtime/event-log.ts";
import { namespace } from "../../runtime/namespace.ts";
import { Registry } from "../../runtime/registry.ts";
import type { ActorRecord } from "../../runtime/types.ts";
import { ClusterUnreachableError, ConfigError } from "../../runtime/errors.ts";

function record(id: string, patch: Partial<ActorRecord> = {}): ActorRecord {
  return {
    id,
    supervisor: "sup",
    coords: { d: 0 },
    host: "h1",
    pid: 42,
    state: "alive",
    restarts: 0,
    step: 0,
    epoch: 0,
    lastHeartbeat: null,
    deathCause: null,
    seq: 1,
    updatedAt: Date.now(),
    snapshot: null,
    ...patch,
  };
}

describe("registry and event log", () => {
  let nc: NatsConnection;
  const a = namespace(`t${randomUUID().slice(0, 8)}`);
  const b = namespace(`t${randomUUID().slice(0, 8)}`);

  beforeAll(async () => {
    nc = await connectNats({ url: inject("natsUrl"), waitOnFirstConnect: false });
  });
  afterAll(async () => {
    await nc.close();
  });

  it("keeps one key per actor, dead ones included, and its history", async () => {
    const reg = await Registry.open(nc, a);
    await reg.putActor(record("w0", { state: "alive" }));
    await reg.putActor(record("w0", { state: "failed", deathCause: "killed by SIGKILL", seq: 2 }));
    await reg.putActor(record("w0", { state: "dead", seq: 3 }));
    await reg.putActor(record("w1"));
    const all = await reg.listActors();
    expect(all.map((r) => [r.id, r.state])).toEqual([
      ["w0", "dead"],
      ["w1", "alive"],
    ]);
    expect((await reg.actorHistory("w0")).map((r) => r.state)).toEqual(["alive", "failed", "dead"]);
    expect(await reg.getActor("nope")).toBeNull();
  });

  it("stores a retried publish once (same message id)", async () => {
    const log = await EventLog.open(nc, a);
    const ev = { type: "actor.transition", subject: "w0", time: Date.now(), data: { from: "alive", to: "failed" } };
    const first = await log.publish(ev, "w0:7");
    const again = await log.publish(ev, "w0:7");
    expect(first.duplicate).toBe(false);
    expect(again.duplicate).toBe(true);
    await log.publish({ ...ev, subject: "w1" }, "w1:1");
    const all = await log.readAll();
    expect(all.filter((e) => e.subject === "w0")).toHaveLength(1);
    expect((await log.readAll("w1")).map((e) => e.subject)).toEqual(["w1"]);
  });

  it("follows new events until aborted", async () => {
    const log = await EventLog.open(nc, a);
    const seen: string[] = [];
    const ctl = new AbortController();
    const done = log.read({ follow: true, signal: ctl.signal }, (e) => {
      seen.push(e.subject);
      if (seen.includes("late")) ctl.abort();
    });
    await new Promise((r) => setTimeout(r, 100));
    await log.publish({ type: "x", subject: "late", time: Date.now(), data: {} }, "late:1");
    await done;
    expect(seen.at(-1)).toBe("late");
  });

  it("never shows one cluster's actors or events to another on the same server", async () => {
    const ra = await Registry.open(nc, a);
    const rb = await Registry.open(nc, b);
    await rb.putActor(record("only-b"));
    expect((await ra.listActors()).map((r) => r.id)).not.toContain("only-b");
    expect((await rb.listActors()).map((r) => r.id)).toEqual(["only-b"]);
    const lb = await EventLog.open(nc, b);
    expect(await lb.readAll()).toEqual([]);
  });

  it("refuses bad names and reports an unreachable server in one line", async () => {
    expect(() => namespace("a.b")).toThrow(ConfigError);
    expect(() => a.heartbeatSubject("x>")).toThrow(/letters, digits/);
    await expect(connectNats({ url: "nats://127.0.0.1:1", waitOnFirstConnect: false })).rejects.toThrow(ClusterUnreachableError);
  });
});
