// A cluster on the test run's shared nats-server (vitest's globalSetup, `inject("natsUrl")`) under its own cluster
// id, with one host agent in this process. A job run on it (runJob's `cluster`) leaves its records, events and job
// control subject on a server the test and the `troupe` CLI can still read after the job, or while it runs.
import { PassThrough } from "node:stream";
import { inject } from "vitest";
import { pino } from "pino";
import type { NatsConnection } from "@nats-io/transport-node";
import { HostAgent } from "../../runtime/agent/host-agent.ts";
import { connectNats } from "../../runtime/connection.ts";
import { EventLog } from "../../runtime/event-log.ts";
import { LifecycleStore } from "../../runtime/lifecycle-recorder.ts";
import { namespace, type Namespace } from "../../runtime/namespace.ts";
import { Registry } from "../../runtime/registry.ts";

export interface SharedCluster {
  url: string;
  clusterId: string;
  nc: NatsConnection;
  ns: Namespace;
  registry: Registry;
  events: EventLog;
  lifecycles: LifecycleStore;
  /** `--nats URL --cluster-id ID` for the CLI. */
  cliArgs: string[];
  stop(): Promise<void>;
}

export async function startSharedCluster(clusterId: string, slots: number): Promise<SharedCluster> {
  const url = inject("natsUrl");
  const nc = await connectNats({ url, name: `test-${clusterId}` });
  const ns = namespace(clusterId);
  const registry = await Registry.open(nc, ns);
  const events = await EventLog.open(nc, ns);
  const lifecycles = await LifecycleStore.open(nc, ns);
  const agent = new HostAgent({
    nc,
    ns,
    registry,
    events,
    logger: pino({ level: "warn" }, new PassThrough()),
    name: "local",
    slots,
    natsUrl: url,
  });
  await agent.start();
  return {
    url,
    clusterId,
    nc,
    ns,
    registry,
    events,
    lifecycles,
    cliArgs: ["--nats", url, "--cluster-id", clusterId],
    async stop() {
      await agent.stop().catch(() => undefined);
      await nc.close().catch(() => undefined);
    },
  };
}
