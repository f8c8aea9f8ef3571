// `troupe gc`: forget the dead actors of jobs that ended — their records in the registry and their own lifecycle
// records — so that `troupe ps --all` shows what still matters. Live actors and every actor of a running job are
// kept; the event stream keeps its history until its own limits.
import { Kvm } from "@nats-io/kv";
import type { Command } from "commander";
import { summaryOf } from "../commands-table.ts";
import { UsageError } from "../errors.ts";
import { runningJobs, selectActors } from "../cluster/actor-filter.ts";
import { addClusterOptions, withCluster, type ClusterOptions } from "../cluster/cluster-options.ts";
import { parseDuration } from "./chaos.ts";
import { readLifecycles } from "./ps.ts";

export function register(program: Command): void {
  const cmd = program
    .command("gc")
    .description(summaryOf("gc"))
    .option("--older-than <duration>", "only actors dead for longer than this (30s, 10m, 2h, …)", "0s")
    .option("--dry-run", "list what would be removed, remove nothing");
  addClusterOptions(cmd).action(async (opts: ClusterOptions & { olderThan: string; dryRun?: boolean }) => {
    const minAge = opts.olderThan === "0s" ? 0 : parseDurationOrUsage(opts.olderThan);
    await withCluster(opts, async (c) => {
      const [records, jobs] = await Promise.all([c.registry.listActors(), readLifecycles(c.nc, c.ns, "job")]);
      const running = runningJobs(jobs);
      const keep = new Set(selectActors(records, {}, running).map((r) => r.id));
      const now = Date.now();
      const gone = records.filter((r) => !keep.has(r.id) && now - r.updatedAt >= minAge);
      if (!opts.dryRun && gone.length > 0) {
        const lifecycles = await new Kvm(c.nc).open(c.ns.lifecyclesBucket).catch(() => undefined);
        for (const r of gone) {
          await c.registry.purgeActor(r.id);
          await lifecycles?.purge(`worker.${r.id}`).catch(() => undefined);
        }
        // a job none of whose actors is left is forgotten too
        const left = new Set(records.filter((r) => !gone.includes(r)).map((r) => r.supervisor));
        for (const job of jobs.keys())
          if (!running.has(job) && !left.has(job)) await lifecycles?.purge(`job.${job}`).catch(() => undefined);
      }
      if (opts.json) console.log(JSON.stringify({ removed: gone.map((r) => r.id), dryRun: opts.dryRun === true }));
      else if (gone.length === 0) console.log("nothing to remove");
      else
        console.log(
          `${opts.dryRun ? "would remove" : "removed"} ${gone.length} dead actor(s) of ended jobs: ${gone.map((r) => r.id).join(", ")}`,
        );
    });
  });
}

function parseDurationOrUsage(text: string): number {
  try {
    return parseDuration("older-than", text);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}
