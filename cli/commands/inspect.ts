// `troupe inspect <actor>`: the full record, its xstate snapshot, its recent transitions, and for a training worker
// restored by a live recovery where its state came from: "state from peer X in N ms" or "state from checkpoint
// step K (DIR) in N ms"; for the coordinator of an elastic job that shrank or grew, its replicas and their history.
import { summaryOf } from "../commands-table.ts";
import type { Command } from "commander";
import { MalformedRecordError, UnknownActorError } from "../../runtime/errors.ts";
import { addClusterOptions, withCluster, type ClusterOptions } from "../cluster/cluster-options.ts";
import { age, coords } from "../cluster/format.ts";
import { describeDp, describeResize, jobDpOf } from "../../actors/jobs/job-dp.ts";
import { jobOfCoordinator } from "../../actors/jobs/job-ids.ts";
import { LifecycleStore } from "../../runtime/lifecycle-recorder.ts";

export function register(program: Command): void {
  const cmd = program.command("inspect").description(summaryOf("inspect")).argument("<actor>", "actor id (see `troupe ps`)");
  addClusterOptions(cmd).action(async (actor: string, opts: ClusterOptions) => {
    await withCluster(opts, async (c) => {
      const read = await c.registry.readActor(actor);
      if (!read) throw new UnknownActorError(actor);
      if ("malformed" in read)
        throw new MalformedRecordError(
          `${actor}: the entry under this key in ${read.malformed.bucket} is not an actor record (${read.malformed.reason})`,
        );
      const rec = read.record;
      const events = await c.events.readAll(actor, (m) =>
        process.stderr.write(`troupe: skipped a malformed event (#${m.seq} on ${m.subject}: ${m.reason})\n`),
      );
      // live recoveries (actors/coordinator/live-recovery.ts): where the restarted worker's state came from
      const restores = events
        .filter((e) => e.type === "worker.restored")
        .map((e) => ({
          time: e.time,
          source: String(e.data.source),
          from: String(e.data.from),
          checkpointStep: e.data.source === "checkpoint" ? checkpointStepOf(String(e.data.from)) : null,
          seconds: Number(e.data.restoreSeconds),
          step: Number(e.data.step),
          epoch: Number(e.data.epoch),
          cause: String(e.data.cause),
        }));
      // an elastic job's coordinator: the job's replicas now and every change of them, with why
      const job = jobOfCoordinator(rec.id);
      const replicas = job ? jobDpOf(await (await LifecycleStore.open(c.nc, c.ns)).get("job", job)) : null;
      const transitions = events
        .filter((e) => e.type === "actor.transition")
        .slice(-20)
        .map((e) => ({
          time: e.time,
          state: String(e.data.to),
          pid: (e.data.pid as number | null) ?? null,
          cause: (e.data.cause as string | null) ?? null,
        }));
      if (opts.json) {
        console.log(JSON.stringify({ record: rec, transitions, restores, ...(replicas ? { replicas } : {}) }));
        return;
      }
      const lines = [
        `actor        ${rec.id}`,
        `supervisor   ${rec.supervisor}`,
        `coordinates  ${coords(rec.coords)}`,
        `state        ${rec.state}`,
        `host / pid   ${rec.host ?? "-"} / ${rec.pid ?? "-"}`,
        `restarts     ${rec.restarts}`,
        `step, epoch  ${rec.step}, ${rec.epoch}`,
        `heartbeat    ${rec.lastHeartbeat === null ? "never" : `${age(rec.lastHeartbeat)} ago`}`,
        `death cause  ${rec.deathCause ?? "-"}`,
        `updated      ${new Date(rec.updatedAt).toISOString()} (record #${rec.seq})`,
        `snapshot     ${JSON.stringify(rec.snapshot)}`,
        `restored     ${restores.length === 0 ? "never" : `${restores.length} time(s)`}`,
        ...restores.map(
          (r) =>
            `  ${new Date(r.time).toISOString()}  epoch ${r.epoch}, step ${r.step}: state from ${restoreSource(r)} in ${Math.round(r.seconds * 1000)} ms (lost: ${r.cause})`,
        ),
        ...(replicas?.resizes.length
          ? [`replicas     dp ${describeDp(replicas)}`, ...replicas.resizes.map((r) => `  ${describeResize(r)}`)]
          : []),
        "recent states:",
        ...transitions.map(
          (t) => `  ${new Date(t.time).toISOString()}  ${t.state.padEnd(10)} pid ${t.pid ?? "-"}${t.cause ? `  (${t.cause})` : ""}`,
        ),
      ];
      console.log(lines.join("\n"));
    });
  });
}

/** The step of a checkpoint folder named `step-<k>` (ml/checkpoint stepDirName), or null. */
function checkpointStepOf(dir: string): number | null {
  const m = /(?:^|[\\/])step-(\d+)[\\/]?$/.exec(dir);
  return m ? Number(m[1]) : null;
}

function restoreSource(r: { source: string; from: string; checkpointStep: number | null }): string {
  if (r.source === "peer") return `peer ${r.from}`;
  return r.checkpointStep === null ? `checkpoint ${r.from}` : `checkpoint step ${r.checkpointStep} (${r.from})`;
}
