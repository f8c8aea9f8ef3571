// `troupe down`: stop the local cluster started by `troupe up`.
import { summaryOf } from "../commands-table.ts";
import { Option, type Command } from "commander";
import { clusterDir } from "../cluster/cluster-file.ts";
import { downCluster } from "../cluster/local-cluster.ts";
import { stopBackgroundDashboard } from "../dashboard/background.ts";

export function register(program: Command): void {
  program
    .command("down")
    .description(summaryOf("down"))
    .option("--cluster <dir>", "cluster directory (default $TROUPE_CLUSTER or ./.troupe)")
    .addOption(new Option("--dir <dir>", "old name of --cluster").hideHelp())
    .option("--json", "print what was stopped as JSON")
    .action(async (opts: { cluster?: string; dir?: string; json?: boolean }) => {
      const dir = clusterDir(opts.cluster ?? opts.dir);
      await stopBackgroundDashboard(dir);
      const info = await downCluster(dir);
      if (opts.json) console.log(JSON.stringify({ dir, stopped: info }));
      else console.log(`cluster '${info.clusterId}' in ${dir} stopped`);
    });
}
