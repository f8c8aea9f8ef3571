// `troupe jobs`: the jobs submitted to the cluster, oldest first: id, config, layout, state, last committed step,
// when it started and where its run directory is.
import path from "node:path";
import type { Command } from "commander";
import { JobRecords, type JobRecord } from "../../actors/jobs/job-records.ts";
import { JobStore } from "../../actors/coordinator/job-store.ts";
import { summaryOf } from "../commands-table.ts";
import { addClusterOptions, withCluster, type ClusterOptions } from "../cluster/cluster-options.ts";
import { age, table } from "../cluster/format.ts";

export interface JobRow extends JobRecord {
  /** The last committed step (null before the first). */
  step: number | null;
}

export function jobTable(rows: readonly JobRow[], now = Date.now()): string {
  return table(
    ["JOB", "CONFIG", "LAYOUT", "STATE", "STEP", "STARTED", "RUN DIR"],
    rows.map((j) => [
      j.id,
      path.basename(j.request.configFile),
      `${j.layout.dp}×${j.layout.pp}×${j.layout.tp}`,
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
      const [records, store] = await Promise.all([
        JobRecords.open(c.nc, c.ns).then((r) => r.list(onMalformed)),
        JobStore.open(c.nc, c.ns, c.events),
      ]);
      const shown = records.filter((j) => opts.state === undefined || j.state === opts.state);
      const rows = await Promise.all(
        shown.map(async (j): Promise<JobRow> => ({ ...j, step: (await store.latest(j.id).catch(() => null))?.step ?? null })),
      );
      if (opts.json) console.log(JSON.stringify(rows));
      else console.log(rows.length ? jobTable(rows) : "no jobs");
    });
  });
}
