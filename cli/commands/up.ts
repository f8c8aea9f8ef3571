// `troupe up`: start a local cluster in the background.
import { UsageError } from "../errors.ts";
import { summaryOf } from "../commands-table.ts";
import os from "node:os";
import { Option, type Command } from "commander";
import { checkName, namespace } from "../../runtime/namespace.ts";
import { clusterDir } from "../cluster/cluster-file.ts";
import { upCluster } from "../cluster/local-cluster.ts";

function count(name: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${name} must be an integer >= ${min}, got '${value}'`);
  return n;
}

export function register(program: Command): void {
  program
    .command("up")
    .description(summaryOf("up"))
    .option("--cluster <dir>", "cluster directory (default $TROUPE_CLUSTER or ./.troupe)")
    .addOption(new Option("--dir <dir>", "old name of --cluster").hideHelp())
    .option("--cluster-id <id>", "cluster id: namespaces subjects, buckets and streams", "local")
    .option("--actors <n>", "also start a demo supervisor with N generic actors (a0 … aN-1)", "0")
    .option("--slots <n>", "slots of the host agent (default: CPU count)")
    .option("--name <host>", "host name of the agent", os.hostname().replace(/[^A-Za-z0-9_-]/g, "-"))
    .option("--json", "print the cluster info as JSON")
    .addHelpText(
      "after",
      "\nThen: troupe train CONFIG (submitted to this cluster), troupe jobs, troupe ps, troupe down.\nWith --actors N: troupe kill a1 and watch its supervisor bring it back.\n",
    )
    .action(
      async (opts: { cluster?: string; dir?: string; clusterId: string; actors: string; slots?: string; name: string; json?: boolean }) => {
        namespace(opts.clusterId);
        checkName("host name", opts.name);
        const dir = clusterDir(opts.cluster ?? opts.dir);
        const info = await upCluster({
          dir,
          clusterId: opts.clusterId,
          actors: count("--actors", opts.actors, 0),
          slots: opts.slots === undefined ? undefined : count("--slots", opts.slots, 1),
          hostName: opts.name,
        });
        if (opts.json) {
          console.log(JSON.stringify({ dir, ...info }));
          return;
        }
        console.log(`cluster '${info.clusterId}' up in ${dir}`);
        console.log(`  nats-server  ${info.url} (pid ${info.natsPid}, credentials per role in ${info.credsDir ?? info.tokenFile})`);
        console.log(`  host agent   ${opts.name} (pid ${info.agentPid})`);
        console.log(`  job service  pid ${info.servicesPid} (troupe train submits here; troupe jobs lists them)`);
        if (info.supervisorPid) console.log(`  supervisor   demo with ${opts.actors} generic actors (pid ${info.supervisorPid})`);
        console.log(
          info.supervisorPid
            ? "next: troupe ps --watch · troupe kill a1 · troupe events -f · troupe down"
            : "next: troupe train examples/brown-3d.yaml --detach · troupe jobs · troupe ps · troupe down",
        );
      },
    );
}
