// `troupe restart <actor>`: ask the actor's supervisor for a fresh process (not counted as a failure).
// `troupe restart --job J --stage P | --replica D` (or <actor> naming a job's worker): ask the job's coordinator for
// a live graceful restart at the next step boundary; each restarted worker takes its state from a DP peer.
import { UsageError } from "../errors.ts";
import { summaryOf } from "../commands-table.ts";
import type { Command } from "commander";
import type { NatsConnection } from "@nats-io/transport-node";
import { ConfigError, RequestFailedError, UnknownActorError } from "../../runtime/errors.ts";
import { call } from "../../runtime/rpc.ts";
import type { Namespace } from "../../runtime/namespace.ts";
import { jobControlSubject, type JobDescription, type RestartReply, type RestartSelector } from "../../actors/coordinator/control.ts";
import { addClusterOptions, withCluster, type ClusterOptions, type OpenCluster } from "../cluster/cluster-options.ts";

interface RestartOptions extends ClusterOptions {
  job?: string;
  stage?: string;
  replica?: string;
  reason: string;
  timeout: string;
}

function index(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw new UsageError(`--${flag} must be a whole number ≥ 0, got '${text}'`);
  return Number(text);
}

function seconds(text: string): number {
  const s = Number(text);
  if (!Number.isFinite(s) || s <= 0) throw new UsageError(`--timeout must be a positive number of seconds, got '${text}'`);
  return s;
}

/** The job's description, or undefined when no coordinator serves that job. */
async function describe(nc: NatsConnection, ns: Namespace, jobId: string): Promise<JobDescription | undefined> {
  try {
    return (await call(nc, jobControlSubject(ns, jobId), { describe: true })) as JobDescription;
  } catch (err) {
    if (err instanceof RequestFailedError && err.reason === "no-responders") return undefined;
    throw err;
  }
}

async function jobRestart(c: OpenCluster, jobId: string, sel: RestartSelector, o: RestartOptions): Promise<void> {
  printJobRestart(jobId, await restartJobWorkers(c, jobId, sel, o.reason, seconds(o.timeout) * 1000), o);
}

function printJobRestart(jobId: string, reply: RestartReply, o: RestartOptions): void {
  if (o.json) {
    console.log(JSON.stringify({ job: jobId, ...reply }));
    return;
  }
  console.log(`job ${jobId}: restarted ${reply.restarted.length} worker(s) at a step boundary`);
  for (const r of reply.records) {
    console.log(
      `  ${r.actorId}: state from ${r.source} ${r.from} in ${r.restoreSeconds.toFixed(2)} s, job stepping again after ${r.seconds.toFixed(2)} s (epoch ${r.epoch})`,
    );
  }
}

/** Asks a running job's coordinator for a live restart of the selected workers; resolves when they are back. */
export function restartJobWorkers(
  c: OpenCluster,
  jobId: string,
  sel: RestartSelector,
  reason: string,
  timeoutMs: number,
): Promise<RestartReply> {
  return call(c.nc, jobControlSubject(c.ns, jobId), { restart: sel, reason }, timeoutMs) as Promise<RestartReply>;
}

/** Asks an actor's supervisor for a fresh process (recorded by the supervisor as operator.restart). */
async function restartThroughSupervisor(
  c: OpenCluster,
  actor: string,
  reason: string,
  supervisor: string,
): Promise<{ previousPid: number | null }> {
  return (await call(c.nc, c.ns.supervisorSubject(supervisor, "restart"), { actorId: actor, reason: `operator: ${reason}` })) as {
    previousPid: number | null;
  };
}

/** What restarting one actor did: a job's worker restarted live by its job, or any other actor by its supervisor. */
export type ActorRestart = { job: string; reply: RestartReply } | { supervisor: string; previousPid: number | null };

/** Restarts one actor: a running job's worker through its job (state from a peer), any other through its supervisor. */
export async function restartActor(c: OpenCluster, actor: string, reason: string, timeoutMs: number): Promise<ActorRestart> {
  const rec = await c.registry.getActor(actor);
  if (!rec) throw new UnknownActorError(actor);
  // a job's worker is supervised by its coordinator, which serves the job's control subject under the job id
  const job = await describe(c.nc, c.ns, rec.supervisor);
  if (job?.workers.some((w) => w.id === actor)) {
    return { job: job.jobId, reply: await restartJobWorkers(c, job.jobId, { actors: [actor] }, reason, timeoutMs) };
  }
  return { supervisor: rec.supervisor, ...(await restartThroughSupervisor(c, actor, reason, rec.supervisor)) };
}

export function register(program: Command): void {
  const cmd = program
    .command("restart")
    .summary(summaryOf("restart"))
    .description(
      "restart an actor through its supervisor (old process killed, new one started); for a training job's workers, " +
        "a live graceful restart at the next step boundary with state taken from a data-parallel peer",
    )
    .argument("[actor]", "actor id (see `troupe ps`); a job worker's id restarts it through its job")
    .option("--job <id>", "training job whose workers to restart (with --stage and/or --replica)")
    .option("--stage <p>", "restart every worker of pipeline stage p (needs --job)")
    .option("--replica <d>", "restart every worker of data-parallel replica d (needs --job)")
    .option("--reason <text>", "reason recorded in the events", "troupe restart")
    .option("--timeout <seconds>", "how long to wait for a job's workers to be back", "120")
    .addHelpText(
      "after",
      "\nExamples:\n  troupe restart sleeper-1\n  troupe restart --job brown-3d --stage 1\n  troupe restart --job brown-3d --replica 0 --stage 1\n  troupe restart brown-3d-w5",
    );
  addClusterOptions(cmd).action(async (actor: string | undefined, opts: RestartOptions) => {
    const stage = index("stage", opts.stage);
    const replica = index("replica", opts.replica);
    seconds(opts.timeout);
    if (!opts.job && (stage !== undefined || replica !== undefined)) throw new UsageError("--stage and --replica need --job <id>");
    if (opts.job && !actor && stage === undefined && replica === undefined)
      throw new UsageError(`--job ${opts.job}: name what to restart with --stage, --replica or a worker id`);
    if (!opts.job && !actor) throw new UsageError("name an actor to restart, or a job with --job");
    await withCluster(opts, async (c) => {
      if (opts.job) {
        if (!(await describe(c.nc, c.ns, opts.job)))
          throw new ConfigError(`unknown job '${opts.job}': no running job answers on ${jobControlSubject(c.ns, opts.job)}`);
        await jobRestart(c, opts.job, { actors: actor ? [actor] : undefined, stage, replica }, opts);
        return;
      }
      const r = await restartActor(c, actor!, opts.reason, seconds(opts.timeout) * 1000);
      if ("job" in r) printJobRestart(r.job, r.reply, opts);
      else if (opts.json) console.log(JSON.stringify({ actor, supervisor: r.supervisor, previousPid: r.previousPid }));
      else console.log(`restarting ${actor} (supervisor ${r.supervisor}, previous pid ${r.previousPid ?? "-"})`);
    });
  });
}
