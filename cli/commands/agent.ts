// `troupe agent`: the host agent of this machine, in the foreground.
import { isIP } from "node:net";
import { UsageError } from "../errors.ts";
import { summaryOf } from "../commands-table.ts";
import type { Command } from "commander";
import { addClusterOptions, type ClusterOptions } from "../cluster/cluster-options.ts";
import { runAgent } from "../cluster/run-agent.ts";

interface AgentOptions extends ClusterOptions {
  name?: string;
  slots?: string;
  tier: string;
  advertise?: string;
}

export function register(program: Command): void {
  const cmd = program
    .command("agent")
    .description(summaryOf("agent"))
    .option("--name <host>", "host name in the registry (default: the machine's hostname)")
    .option("--slots <n>", "worker slots on this host (default: CPU count)")
    .option("--advertise <address>", "IP address the other hosts reach this one at (default: the local address of the route to NATS)")
    .option("--tier <tier>", "topology tier (hosts with the same tier are near each other)", "default")
    .addHelpText(
      "after",
      "\nExample:\n  troupe agent --nats nats://10.0.0.5:4222 --token-file ~/.troupe/creds/agent --cluster-id prod --slots 8 --advertise 10.0.0.6\n",
    );
  addClusterOptions(cmd, { json: false }).action(async (opts: AgentOptions) => {
    const slots = opts.slots === undefined ? undefined : Number(opts.slots);
    if (slots !== undefined && (!Number.isInteger(slots) || slots < 1))
      throw new UsageError(`--slots must be a positive integer, got '${opts.slots}'`);
    if (opts.advertise !== undefined && isIP(opts.advertise) === 0)
      throw new UsageError(`--advertise must be an IP address, got '${opts.advertise}'`);
    await runAgent({ ...opts, slots });
  });
}
