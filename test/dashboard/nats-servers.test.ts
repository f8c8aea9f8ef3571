// The dashboard's health of every nats-server (cli/dashboard/nats-servers.ts) against real servers: the test's
// nats-server (the one the dashboard is connected to), a second real nats-server the test starts, and a URL where
// nothing listens. The Cluster view probes all three, the second goes down when it is stopped, and /metrics says
// troupe_nats_server_up per server.
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { NatsConnection } from "@nats-io/transport-node";
import { pollUntil } from "../../runtime/async.ts";
import { connectNats } from "../../runtime/connection.ts";
import { EventLog } from "../../runtime/event-log.ts";
import { namespace } from "../../runtime/namespace.ts";
import { startNatsServer, type NatsServerHandle } from "../../runtime/nats-server.ts";
import { Registry } from "../../runtime/registry.ts";
import { ClusterView } from "../../cli/dashboard/cluster-view.ts";
import { DashboardMetrics } from "../../cli/dashboard/metrics.ts";
import { probeNatsServer, serverAddress } from "../../cli/dashboard/nats-servers.ts";

/** A loopback port nothing listens on (bound, then released). */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const { port } = s.address() as { port: number };
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

describe("the nats-servers of the Cluster page", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "troupe-dash-nats-"));
  let second: NatsServerHandle;
  let nc: NatsConnection;
  let dead = "";
  const ctl = new AbortController();

  beforeAll(async () => {
    second = await startNatsServer({ dir });
    dead = `127.0.0.1:${await deadPort()}`;
    nc = await connectNats({ url: inject("natsUrl") });
  });
  afterAll(async () => {
    ctl.abort();
    await nc.close();
    await second.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("probes one server: up with its version and JetStream, or down with the reason", async () => {
    const up = await probeNatsServer(serverAddress(second.url), undefined);
    expect(up).toMatchObject({ address: serverAddress(second.url), up: true, jetstream: true, error: null });
    expect(up.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(up.rttMs).toBeGreaterThanOrEqual(0);
    const down = await probeNatsServer(dead, undefined, 500);
    expect(down).toMatchObject({ address: dead, up: false, version: null });
    expect(down.error).toMatch(/cannot reach nats-server/);
  });

  it("the view shows every server (its own marked), a stopped one goes down, and /metrics has troupe_nats_server_up", async () => {
    const ns = namespace(`t${randomUUID().slice(0, 8)}`);
    const cluster = { nc, ns, registry: await Registry.open(nc, ns), events: await EventLog.open(nc, ns), close: async () => {} };
    const metrics = new DashboardMetrics();
    const urls = [inject("natsUrl"), second.url, `nats://${dead}`].join(",");
    const view = await ClusterView.start(cluster, ctl.signal, metrics.take, { url: urls });
    metrics.attach(view);
    const own = serverAddress(inject("natsUrl"));
    const byAddress = () => new Map(view.servers.map((s) => [s.address, s]));
    const first = await pollUntil(() => (view.servers.length === 3 ? byAddress() : undefined), {
      what: "3 servers probed",
      timeoutMs: 20_000,
    });
    expect(first.get(own)).toMatchObject({ up: true, connected: true, jetstream: true });
    expect(first.get(serverAddress(second.url))).toMatchObject({ up: true, connected: false });
    expect(first.get(dead)).toMatchObject({ up: false, connected: false });
    const text = await metrics.registry.metrics();
    expect(text).toContain(`troupe_nats_server_up{server="${own}"} 1`);
    expect(text).toContain(`troupe_nats_server_up{server="${dead}"} 0`);

    await second.stop();
    await pollUntil(() => (byAddress().get(serverAddress(second.url))?.up === false ? true : undefined), {
      what: "the stopped server shown down",
      timeoutMs: 20_000,
    });
    expect(await metrics.registry.metrics()).toContain(`troupe_nats_server_up{server="${serverAddress(second.url)}"} 0`);
  });
});
