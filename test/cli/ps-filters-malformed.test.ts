// `troupe ps` filters, and readers that survive garbage: a value in the actors bucket or a message on the event
// stream that is not what it should be (any client with the cluster's credentials can write them) is skipped and
// named, and ps, inspect and events go on.
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runningJobs, selectActors } from "../../cli/cluster/actor-filter.ts";
import { encode } from "../../runtime/codec.ts";
import { EventLog } from "../../runtime/event-log.ts";
import type { LifecycleRecord } from "../../runtime/lifecycle-recorder.ts";
import { namespace } from "../../runtime/namespace.ts";
import { Registry } from "../../runtime/registry.ts";
import type { ActorRecord } from "../../runtime/types.ts";
import { troupe } from "../control/cli-troupe.ts";

const record = (id: string, supervisor: string, state: ActorRecord["state"], host = "h1"): ActorRecord => ({
  id,
  supervisor,
  coords: { d: 0 },
  host,
  pid: state === "dead" ? null : 100,
  state,
  restarts: 0,
  step: 3,
  epoch: 1,
  lastHeartbeat: Date.now(),
  deathCause: state === "dead" ? "stopped" : null,
  seq: 1,
  updatedAt: Date.now(),
  snapshot: null,
});
const lifecycle = (id: string, status: string): LifecycleRecord => ({
  kind: "job",
  id,
  value: status === "done" ? "completed" : "training",
  context: {},
  status,
  seq: 1,
  updatedAt: 0,
});

describe("which actors ps shows", () => {
  const records = [
    record("run-w0", "run", "alive"),
    record("run-w1", "run", "dead"),
    record("old-w0", "old", "dead"),
    record("demo-a0", "demo", "alive", "h2"),
  ];
  const running = runningJobs(
    new Map([
      ["run", lifecycle("run", "active")],
      ["old", lifecycle("old", "done")],
    ]),
  );
  const ids = (f: Parameters<typeof selectActors>[1]) =>
    selectActors(records, f, running, new Map([["run-w0", "stepping"]])).map((r) => r.id);

  it("by default: live actors and every actor of a running job; --all adds the dead of ended jobs", () => {
    expect(ids({})).toEqual(["run-w0", "run-w1", "demo-a0"]);
    expect(ids({ all: true })).toEqual(["run-w0", "run-w1", "old-w0", "demo-a0"]);
  });

  it("--job shows that job's actors, dead ones too; --state matches a state or a phase; --host a host", () => {
    expect(ids({ job: "old" })).toEqual(["old-w0"]);
    expect(ids({ state: "dead", all: true })).toEqual(["run-w1", "old-w0"]);
    expect(ids({ state: "stepping" })).toEqual(["run-w0"]);
    expect(ids({ host: "h2" })).toEqual(["demo-a0"]);
  });
});

describe("garbage in the cluster's buckets and streams", () => {
  const url = inject("natsUrl");
  const ns = namespace("garbage");
  const cli = ["--nats", url, "--cluster-id", ns.clusterId];
  let nc: NatsConnection;

  beforeAll(async () => {
    nc = await connect({ servers: url });
    const registry = await Registry.open(nc, ns);
    await registry.putActor(record("good-w0", "good", "alive"));
    const actors = await new Kvm(nc).open(ns.actorsBucket);
    await actors.put("evil", new Uint8Array([0xc1, 0xff, 0x00, 0x13])); // not msgpack
    await actors.put("bogus", encode({ id: "bogus", state: "sleepy" })); // msgpack, not a record
    const events = await EventLog.open(nc, ns);
    await events.publish({ type: "actor.transition", subject: "good-w0", time: Date.now(), data: { to: "alive" } }, "e1");
    nc.publish(ns.eventSubject("actor-transition", "good-w0"), new Uint8Array([0xc1, 0xc1]));
    await events.publish({ type: "actor.transition", subject: "good-w0", time: Date.now(), data: { to: "alive" } }, "e2");
  });
  afterAll(async () => {
    await nc?.close();
  });

  it("the registry skips a malformed entry and names its key", async () => {
    const seen: string[] = [];
    const recs = await (await Registry.open(nc, ns)).listActors({ onMalformed: (m) => seen.push(m.key) });
    expect(recs.map((r) => r.id)).toEqual(["good-w0"]);
    expect(seen.sort()).toEqual(["bogus", "evil"]);
  });

  it("ps lists the good actors and shows the malformed keys; --json stays valid JSON", async () => {
    const table = await troupe("ps", ...cli);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/good-w0 .* alive/);
    expect(table.stdout).toMatch(/^evil {2}\(malformed record: /m);
    expect(table.stdout).toMatch(/^bogus {2}\(malformed record: supervisor: /m);
    expect(table.stderr).toMatch(/skipped a malformed entry in troupe_garbage_actors: key "evil"/);
    const json = await troupe("ps", "--json", ...cli);
    expect(json.code).toBe(0);
    expect((JSON.parse(json.stdout) as { id: string }[]).map((r) => r.id)).toEqual(["good-w0"]);
  });

  it("inspect names a malformed entry; events skip a malformed message and always exit", async () => {
    const bad = await troupe("inspect", "evil", ...cli);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^troupe: evil: the entry under this key in troupe_garbage_actors is not an actor record/);
    const good = await troupe("inspect", "good-w0", ...cli);
    expect(good.code).toBe(0);
    expect(good.stderr).toMatch(/skipped a malformed event/);
    const events = await troupe("events", "--actor", "good-w0", "-n", "5", ...cli);
    expect(events.code).toBe(0);
    expect(events.stdout.trim().split("\n")).toHaveLength(2);
  });
});
