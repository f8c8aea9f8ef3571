// `troupe jobs`: the jobs submitted to the cluster, oldest first: id, config, layout, data-parallel replicas now (an
// elastic job that shrank or grew: "1 (shrunk from 2 at step 3)"), state, last committed step, when it started and
// where its run directory is.
import path from "node:path";
import type { Command } from "commander";
import { JobRecords, type JobRecord } from "../../actors/jobs/job-records.ts";
import { JobStore } from "../../actors/coordinator/job-store.ts";
import { describeDp, jobDpOf, type JobDp } from "../../actors/jobs/job-dp.ts";
import { LifecycleStore } from "../../runtime/lifecycle-recorder.ts";
import { summaryOf } from "../commands-table.ts";
import { addClusterOptions, withCluster, type ClusterOptions } from "../cluster/cluster-options.ts";
import { age, table } from "../cluster/format.ts";

export interface JobRow extends JobRecord {
  /** The last committed step (null before the first). */
  step: number | null;
  /** Its data-parallel replicas now, and every change of them (an elastic job: docs/guide/elastic.md). */
  replicas: JobDp;
}

export function jobTable(rows: readonly JobRow[], now = Date.now()): string {
  return table(
    ["JOB", "CONFIG", "LAYOUT", "DP NOW", "STATE", "STEP", "STARTED", "RUN DIR"],
    rows.map((j) => [
      j.id,
      path.basename(j.request.configFile),
      `${j.layout.dp}×${j.layout.pp}×${j.layout.tp}`,
      describeDp(j.replicas),
      j.state,
      j.step === null ? "-" : String(j.step),
      j.startedAt === null ? "-" : `${age(j.startedAt, now)} ago`,
      j.request.runDir,
    ]),
  );
}

export function register(program: Command): void {
  const cmd = program
    .command("jobs")
    .description(summaryOf("jobs"))
    .option("--state <state>", "only jobs in this state (submitted, running, completed, failed, stopped)");
  addClusterOptions(cmd).action(async (opts: ClusterOptions & { state?: string }) => {
    await withCluster(opts, async (c) => {
      const onMalformed = (m: { key: string; reason: string }) =>
        process.stderr.write(`troupe: skipped a malformed job record ${JSON.stringify(m.key)} (${m.reason})\n`);
      const [records, store, lifecycles] = await Promise.all([
        JobRecords.open(c.nc, c.ns).then((r) => r.list(onMalformed)),
        JobStore.open(c.nc, c.ns, c.events),
        LifecycleStore.open(c.nc, c.ns),
      ]);
      const shown = records.filter((j) => opts.state === undefined || j.state === opts.state);
      const rows = await Promise.all(
        shown.map(async (j): Promise<JobRow> => ({
          ...j,
          step: (await store.latest(j.id).catch(() => null))?.step ?? null,
          replicas: jobDpOf(await lifecycles.get("job", j.id).catch(() => null), j.layout.dp),
        })),
      );
      if (opts.json) console.log(JSON.stringify(rows));
      else console.log(rows.length ? jobTable(rows) : "no jobs");
    });
  });
}
