import { afterEach, describe, expect, inject, it } from "vitest";
import { decode, encode } from "../../runtime/codec.ts";
import { call } from "../../runtime/rpc.ts";
import { pollUntil } from "../../runtime/async.ts";
import { actorArgv, startTestCluster, type TestCluster } from "./harness.ts";

// Real processes on a shared 2-core machine: allow for slow starts.
describe("malformed and stale-epoch messages", { timeout: 90_000 }, () => {
  let cluster: TestCluster | undefined;
  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  it("are rejected with an error reply and an event; the actor and the supervisor keep running", async () => {
    cluster = await startTestCluster({ url: inject("natsUrl"), epoch: 2, children: [{ id: "target", argv: actorArgv() }] });
    const c = cluster;
    const alive = await c.waitFor("target", (r) => r.state === "alive");
    expect(alive.epoch).toBe(2); // handed over at spawn, reported back by heartbeats
    const subject = c.ns.actorCommandSubject("target");
    const raw = async (bytes: Uint8Array) => decode((await c.nc.request(subject, bytes, { timeout: 3000 })).data);

    expect(await raw(Uint8Array.from([0xc4, 0xff, 0x01]))).toMatchObject({ ok: false, kind: "CodecError" });
    expect(await raw(encode({ type: "set-step", epoch: 2, step: "ten" }))).toMatchObject({ ok: false, kind: "SchemaError" });
    expect(await raw(encode({ type: "rm -rf", epoch: 2 }))).toMatchObject({ ok: false, kind: "SchemaError" });
    expect(await call(c.nc, subject, { type: "set-epoch", epoch: 5 })).toEqual({ epoch: 5 });
    await expect(call(c.nc, subject, { type: "set-step", epoch: 4, step: 9 })).rejects.toThrow(/epoch 4 is older than the current epoch 5/);
    // still serving, same process, stale write not applied
    expect(await call(c.nc, subject, { type: "ping", epoch: 5 })).toMatchObject({ pid: alive.pid, step: 0, epoch: 5, rejected: 4 });

    // garbage on the heartbeat and exit-report subjects reaches the supervisor: reported, ignored
    c.nc.publish(c.ns.heartbeatSubject("target"), Uint8Array.from([1, 2, 3]));
    c.nc.publish(c.ns.exitSubject("h1"), encode({ actorId: "target", pid: "nope" }));
    await c.nc.flush();

    const readRejected = async () =>
      (await c.events.readAll()).filter((e) => e.type === "message.rejected").map((e) => ({ subject: e.subject, kind: e.data.kind }));
    await pollUntil(async () => ((await readRejected()).length >= 6 ? true : undefined), {
      what: "6 message.rejected events",
      timeoutMs: 60_000,
    }).catch(() => undefined);
    const rejected = await readRejected();
    expect(rejected.filter((r) => r.subject === "target").map((r) => r.kind)).toEqual([
      "CodecError",
      "SchemaError",
      "SchemaError",
      "StaleEpochError",
    ]);
    expect(rejected.filter((r) => r.subject === "sup").map((r) => r.kind)).toEqual(["CodecError", "SchemaError"]);
    const after = await c.waitFor("target", (r) => r.state === "alive" && (r.lastHeartbeat ?? 0) > Date.now() - 2000);
    expect([after.pid, after.restarts]).toEqual([alive.pid, 0]);
  });
});
