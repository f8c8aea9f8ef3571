// `troupe gc`: forget the dead actors of jobs that ended (their records in the registry and their own lifecycle
// records), so that `troupe ps --all` shows what still matters, and the ended jobs none of whose actors is left
// (their job record, progress and output), so that their names can be used again. Live actors and every actor of a running
// job are kept; the event stream keeps its history until its own limits.
import { Kvm } from "@nats-io/kv";
import type { Command } from "commander";
import { purgeJobOutput } from "../../actors/jobs/job-output.ts";
import { FINAL_JOB_STATES, JobRecords } from "../../actors/jobs/job-records.ts";
import { jobOfActor } from "../../actors/jobs/job-ids.ts";
import type { ActorRecord } from "../../runtime/types.ts";
import { summaryOf } from "../commands-table.ts";
import { UsageError } from "../errors.ts";
import { runningJobs, selectActors } from "../cluster/actor-filter.ts";
import { addClusterOptions, withCluster, type ClusterOptions, type OpenCluster } from "../cluster/cluster-options.ts";
import { parseDuration } from "./chaos.ts";
import { readLifecycles } from "./ps.ts";

export function register(program: Command): void {
  const cmd = program
    .command("gc")
    .description(summaryOf("gc"))
    .option("--older-than <duration>", "only actors dead (and jobs ended) for longer than this (30s, 10m, 2h, …)", "0s")
    .option("--dry-run", "list what would be removed, remove nothing");
  addClusterOptions(cmd).action(async (opts: ClusterOptions & { olderThan: string; dryRun?: boolean }) => {
    const minAge = opts.olderThan === "0s" ? 0 : parseDurationOrUsage(opts.olderThan);
    await withCluster(opts, async (c) => {
      const plan = await planGc(c, minAge);
      if (!opts.dryRun) await collect(c, plan);
      const actors = plan.actors.map((r) => r.id);
      if (opts.json) console.log(JSON.stringify({ removed: actors, jobs: plan.jobs, dryRun: opts.dryRun === true }));
      else if (actors.length === 0 && plan.jobs.length === 0) console.log("nothing to remove");
      else {
        const verb = opts.dryRun ? "would remove" : "removed";
        if (actors.length > 0) console.log(`${verb} ${actors.length} dead actor(s) of ended jobs: ${actors.join(", ")}`);
        if (plan.jobs.length > 0)
          console.log(
            `${opts.dryRun ? "would forget" : "forgot"} ${plan.jobs.length} ended job(s): ${plan.jobs.join(", ")} (names free again)`,
          );
      }
    });
  });
}

interface GcPlan {
  actors: ActorRecord[];
  /** Ended jobs none of whose actors is left once `actors` are removed. */
  jobs: string[];
  /** Every job with a lifecycle record that is not running (their lifecycle records go with their last actor). */
  endedLifecycles: string[];
}

async function planGc(c: OpenCluster, minAge: number): Promise<GcPlan> {
  const [records, lifecycles, jobRecords] = await Promise.all([
    c.registry.listActors(),
    readLifecycles(c.nc, c.ns, "job"),
    JobRecords.open(c.nc, c.ns).then((r) => r.list()),
  ]);
  const running = runningJobs(lifecycles);
  const keep = new Set(selectActors(records, {}, running).map((r) => r.id));
  const now = Date.now();
  const actors = records.filter((r) => !keep.has(r.id) && now - r.updatedAt >= minAge);
  const left = new Set(records.filter((r) => !actors.includes(r)).map(jobOfActor));
  const jobs = jobRecords
    .filter((j) => FINAL_JOB_STATES.has(j.state) && !running.has(j.id) && !left.has(j.id))
    .filter((j) => now - (j.endedAt ?? j.submittedAt) >= minAge)
    .map((j) => j.id);
  const endedLifecycles = [...lifecycles.keys()].filter((j) => !running.has(j) && !left.has(j));
  return { actors, jobs, endedLifecycles };
}

async function collect(c: OpenCluster, plan: GcPlan): Promise<void> {
  const lifecycles = await new Kvm(c.nc).open(c.ns.lifecyclesBucket).catch(() => undefined);
  for (const r of plan.actors) {
    await c.registry.purgeActor(r.id);
    await lifecycles?.purge(`worker.${r.id}`).catch(() => undefined);
  }
  for (const job of plan.endedLifecycles) await lifecycles?.purge(`job.${job}`).catch(() => undefined);
  const records = await JobRecords.open(c.nc, c.ns);
  for (const job of plan.jobs) {
    await records.remove(job);
    await purgeJobOutput(c.nc, c.ns, job);
  }
}

function parseDurationOrUsage(text: string): number {
  try {
    return parseDuration("older-than", text);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}
