// The embedded default: with no --nats URL, a private nats-server (JetStream store under the run
// directory, a fresh token) and one host agent in this process, so one command trains on one machine.
import { randomBytes } from "node:crypto";
import path from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { HostAgent } from "../agent/host-agent.ts";
import { connectNats, type ConnectionStatus } from "../connection.ts";
import { EventLog } from "../event-log.ts";
import type { Logger } from "../logger.ts";
import { namespace, type Namespace } from "../namespace.ts";
import { startKeptNatsServer, type KeptNatsServer } from "../nats-server.ts";
import { Registry } from "../registry.ts";

export interface ClusterConnection {
  nc: NatsConnection;
  ns: Namespace;
  registry: Registry;
  events: EventLog;
  url: string;
  /** Stops what this connection started (agent, server) and closes the connection. */
  close(): Promise<void>;
}

export interface ConnectOrEmbedOptions {
  /** Existing cluster; absent = start a private one. */
  url?: string;
  token?: string;
  /** The CA of a TLS cluster (with `url`): the servers are verified against it. */
  caFile?: string;
  clusterId: string;
  /** Where the embedded server keeps its store. */
  dir: string;
  /** Slots of the embedded host agent. */
  slots: number;
  logger: Logger;
  onStatus?: (s: ConnectionStatus) => void;
}

export async function connectOrEmbed(o: ConnectOrEmbedOptions): Promise<ClusterConnection> {
  let server: KeptNatsServer | undefined;
  let token = o.token;
  let url = o.url;
  if (url === undefined) {
    token = randomBytes(24).toString("hex");
    // its own process group, so Ctrl-C (to the terminal's group) leaves the control plane up until the
    // coordinator has finished the step in flight and saved a checkpoint; close() stops it. Killed before that, it is
    // started again on the same port with the same store, and every client reconnects.
    server = await startKeptNatsServer(
      { dir: path.join(o.dir, "nats"), token, detached: true },
      {
        onExit: (how) => o.logger.warn(how, "embedded nats-server exited: starting it again on the same port and store"),
        onRestarted: (h, attempt) => o.logger.warn({ pid: h.pid, attempt }, "embedded nats-server is back"),
        onRestartFailed: (err, attempt) => o.logger.error({ err: err.message, attempt }, "embedded nats-server did not start again"),
      },
    );
    url = server.url;
  }
  const ns = namespace(o.clusterId);
  let nc: NatsConnection | undefined;
  let agent: HostAgent | undefined;
  try {
    nc = await connectNats({
      url,
      token,
      ...(server === undefined && o.caFile !== undefined ? { caFile: o.caFile } : {}),
      name: "coordinator",
      // a cluster named by URL must answer now: an unreachable one fails the command instead of dialling forever
      // (once connected, the connection reconnects forever either way)
      waitOnFirstConnect: server !== undefined,
      timeoutMs: 3000,
      onStatus: (s) => {
        agent?.connectionChanged(s);
        o.onStatus?.(s);
      },
    });
    const registry = await Registry.open(nc, ns);
    const events = await EventLog.open(nc, ns);
    if (server) {
      agent = new HostAgent({ nc, ns, registry, events, logger: o.logger, name: "local", slots: o.slots, natsUrl: url, token });
      await agent.start();
    }
    const conn = nc;
    const started = agent;
    return {
      nc: conn,
      ns,
      registry,
      events,
      url,
      close: async () => {
        await started?.stop();
        await conn.drain().catch(() => undefined);
        await server?.stop();
      },
    };
  } catch (err) {
    await agent?.stop().catch(() => undefined);
    await nc?.close().catch(() => undefined);
    await server?.stop();
    throw err;
  }
}
