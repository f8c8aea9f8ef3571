// Runs a host agent in this process until SIGTERM/SIGINT; shared by `troupe agent` and the
// agent `troupe up` starts (cli/cluster/agent-main.ts, which does not load the whole CLI).
import { routeAddress } from "../../runtime/advertise.ts";
import { HostAgent } from "../../runtime/agent/host-agent.ts";
import { connectNats, natsServerUrls } from "../../runtime/connection.ts";
import { EventLog } from "../../runtime/event-log.ts";
import { createRootLogger } from "../../runtime/logger.ts";
import { namespace } from "../../runtime/namespace.ts";
import { Registry } from "../../runtime/registry.ts";
import { childSecrets, resolveConnection, type ClusterOptions } from "./cluster-options.ts";

export interface RunAgentOptions extends ClusterOptions {
  name?: string;
  slots?: number;
  tier?: string;
  /** The address other hosts reach this one at; default: the local address of the route to the NATS server. */
  advertise?: string;
}

export async function runAgent(opts: RunAgentOptions): Promise<void> {
  const conn = resolveConnection(opts, "agent");
  const secrets = childSecrets(opts);
  const ns = namespace(conn.clusterId);
  const advertise = opts.advertise ?? (await routeAddress(natsServerUrls(conn.url)[0]!));
  const logger = createRootLogger({ name: "agent", destination: 1 });
  let agent: HostAgent | undefined;
  const nc = await connectNats({
    url: conn.url,
    token: conn.token,
    caFile: conn.caFile,
    name: `agent-${opts.name ?? "host"}`,
    // the cluster must be up when the agent starts (a typo in --nats fails at once); later outages are waited out
    waitOnFirstConnect: false,
    timeoutMs: 3000,
    onStatus: (s) => {
      logger.info({ status: s }, "nats connection");
      agent?.connectionChanged(s);
    },
  });
  const registry = await Registry.open(nc, ns);
  const events = await EventLog.open(nc, ns);
  agent = new HostAgent({
    nc,
    ns,
    registry,
    events,
    logger,
    name: opts.name,
    slots: opts.slots,
    tier: opts.tier,
    natsUrl: conn.url,
    token: conn.token,
    ...(conn.caFile ? { caFile: conn.caFile } : {}),
    advertise,
    ...(secrets ? { childSecrets: secrets } : {}),
  });
  await agent.start();
  logger.info({ host: agent.name, slots: agent.slots, tier: agent.tier, advertise }, "agent registered");
  const a = agent;
  await new Promise<void>((resolve) => {
    for (const sig of ["SIGTERM", "SIGINT"] as const) process.once(sig, () => resolve());
  });
  await a.stop();
  await nc.drain().catch(() => undefined);
}
