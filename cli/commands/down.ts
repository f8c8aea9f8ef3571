// `troupe down`: stop the local cluster started by `troupe up`.
import { summaryOf } from "../commands-table.ts";
import type { Command } from "commander";
import { clusterDir } from "../cluster/cluster-file.ts";
import { downCluster } from "../cluster/local-cluster.ts";

export function register(program: Command): void {
  program
    .command("down")
    .description(summaryOf("down"))
    .option("--dir <dir>", "cluster directory (default $TROUPE_CLUSTER or ./.troupe)")
    .option("--json", "print what was stopped as JSON")
    .action(async (opts: { dir?: string; json?: boolean }) => {
      const dir = clusterDir(opts.dir);
      const info = await downCluster(dir);
      if (opts.json) console.log(JSON.stringify({ dir, stopped: info }));
      else console.log(`cluster '${info.clusterId}' in ${dir} stopped`);
    });
}
