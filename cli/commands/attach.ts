// `troupe attach JOB`: follow a job in the cluster (its output from the first line, then live) until it ends;
// Ctrl-C asks whether to stop it or detach.
import type { Command } from "commander";
import { JobRecords } from "../../actors/jobs/job-records.ts";
import { summaryOf } from "../commands-table.ts";
import { addClusterOptions, withCluster, type ClusterOptions } from "../cluster/cluster-options.ts";
import { followJob } from "../job-follow.ts";

export function register(program: Command): void {
  const cmd = program
    .command("attach")
    .description(summaryOf("attach"))
    .argument("<job>", "job id (see `troupe jobs`)")
    .option("--progress <mode>", "force 'bar' (live bar) or 'lines' (plain periodic lines); default: bar on a terminal");
  addClusterOptions(cmd, { json: false }).action(async (jobId: string, opts: ClusterOptions & { progress?: string }) => {
    let code = 0;
    await withCluster(opts, async (c) => {
      const rec = await (await JobRecords.open(c.nc, c.ns)).get(jobId);
      if (!rec) throw new Error(`no job '${jobId}' in this cluster (see troupe jobs)`);
      code = await followJob(c.nc, c.ns, jobId, { tty: opts.progress === undefined ? undefined : opts.progress === "bar" });
    });
    process.exitCode = code;
  });
}
