// `troupe scale --job J --dp N`: asks a running elastic job's coordinator for N data-parallel replicas
// (actors/coordinator/elastic-grow.ts). A job that shrank after losing workers takes its dropped replicas back at the
// next step boundary: their workers start, take their state from live peers and join a new communicator; the answer
// comes once they step. Refused with the reason: N not a whole number, an unknown job, more than the configured dp,
// fewer than now, a model-parallel layout.
import type { Command } from "commander";
import { jobControlSubject } from "../../actors/coordinator/control.ts";
import type { Resize } from "../../actors/coordinator/job-machine.ts";
import { ConfigError, RequestFailedError } from "../../runtime/errors.ts";
import { call } from "../../runtime/rpc.ts";
import { addClusterOptions, withCluster, type ClusterOptions } from "../cluster/cluster-options.ts";
import { summaryOf } from "../commands-table.ts";
import { UsageError } from "../errors.ts";

interface ScaleOptions extends ClusterOptions {
  job?: string;
  dp?: string;
  reason: string;
  timeout: string;
}

function parse(o: ScaleOptions): { job: string; dp: number; timeoutMs: number } {
  if (!o.job) throw new UsageError("name the job to scale with --job <id>");
  if (o.dp === undefined || !/^\d+$/.test(o.dp) || Number(o.dp) < 1)
    throw new UsageError(`--dp must be a whole number ≥ 1, got '${o.dp ?? ""}'`);
  const s = Number(o.timeout);
  if (!Number.isFinite(s) || s <= 0) throw new UsageError(`--timeout must be a positive number of seconds, got '${o.timeout}'`);
  return { job: o.job, dp: Number(o.dp), timeoutMs: s * 1000 };
}

export function register(program: Command): void {
  const cmd = program
    .command("scale")
    .summary(summaryOf("scale"))
    .description(
      "grow a running elastic data-parallel job (config section `elastic`, pp = tp = 1) that shrank after losing workers back to N replicas: " +
        "at the next step boundary the new workers take their state from live peers and the job steps on with the same global batch (docs/guide/elastic.md)",
    )
    .option("--job <id>", "the running job")
    .option("--dp <n>", "data-parallel replicas wanted (at most the configured parallel.dp)")
    .option("--reason <text>", "reason recorded in the job.grown event", "troupe scale")
    .option("--timeout <seconds>", "how long to wait for the new replicas to step", "300")
    .addHelpText("after", "\nExamples:\n  troupe scale --job brown-dp3 --dp 3");
  addClusterOptions(cmd).action(async (opts: ScaleOptions) => {
    const { job, dp, timeoutMs } = parse(opts);
    await withCluster(opts, async (c) => {
      let r: Resize;
      try {
        r = (await call(c.nc, jobControlSubject(c.ns, job), { scale: { dp, reason: opts.reason } }, timeoutMs)) as Resize;
      } catch (err) {
        if (err instanceof RequestFailedError && err.reason === "no-responders")
          throw new ConfigError(`unknown job '${job}': no running job answers on ${jobControlSubject(c.ns, job)}`);
        throw err;
      }
      if (opts.json) console.log(JSON.stringify({ job, ...r }));
      else console.log(`job ${job}: dp ${r.from} → ${r.to} (replicas ${r.replicas.join(", ")}) from step ${r.step}`);
    });
  });
}
