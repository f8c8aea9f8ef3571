// `troupe stop JOB`: the job finishes the step in flight, saves a checkpoint and ends as stopped; this command
// waits for that (unless --no-wait) and prints where the checkpoint is.
import type { Command } from "commander";
import { requestJobStop } from "../../actors/jobs/job-control.ts";
import { followJobOutput } from "../../actors/jobs/job-output.ts";
import { FINAL_JOB_STATES, JobRecords } from "../../actors/jobs/job-records.ts";
import { summaryOf } from "../commands-table.ts";
import { addClusterOptions, withCluster, type ClusterOptions } from "../cluster/cluster-options.ts";

export function register(program: Command): void {
  const cmd = program
    .command("stop")
    .description(summaryOf("stop"))
    .argument("<job>", "job id (see `troupe jobs`)")
    .option("--no-wait", "return once the job has been asked, not when it has stopped")
    .option("--reason <text>", "recorded with the job's end", "stopped by an operator (troupe stop)");
  addClusterOptions(cmd).action(async (jobId: string, opts: ClusterOptions & { wait: boolean; reason: string }) => {
    await withCluster(opts, async (c) => {
      const records = await JobRecords.open(c.nc, c.ns);
      const rec = await records.get(jobId);
      if (!rec) throw new Error(`no job '${jobId}' in this cluster (see troupe jobs)`);
      if (FINAL_JOB_STATES.has(rec.state)) throw new Error(`job ${jobId} has already ended (${rec.state})`);
      const asked = await requestJobStop(c.nc, c.ns, jobId, opts.reason);
      if (!opts.wait) {
        console.log(
          opts.json ? JSON.stringify({ job: jobId, asked: true, step: asked.step }) : `job ${jobId}: asked to stop at step ${asked.step}`,
        );
        return;
      }
      const outcome = await followJobOutput(c.nc, c.ns, jobId, () => undefined);
      const after = await records.get(jobId);
      if (opts.json) console.log(JSON.stringify({ job: jobId, state: outcome?.state, checkpoint: after?.checkpoint ?? null }));
      else console.log(`job ${jobId} ${outcome?.state ?? "ended"}${after?.checkpoint ? `; checkpoint ${after.checkpoint}` : ""}`);
    });
  });
}
