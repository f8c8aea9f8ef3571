// Entry of a job's coordinator, an actor process a host agent starts for the cluster's job service:
//   node --import tsx actors/coordinator/main.ts --job <job id>
// It reads the job's record, trains (its output published for `troupe attach`), records how the job ended, tells
// the job service (which then stops supervising it) and exits. Started again after a death, it takes the job
// back from NATS: the workers keep running and keep their state (takeover.ts).
import path from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { latestCheckpointDir } from "../../ml/checkpoint/store.ts";
import { ActorProcess, actorEnvironment } from "../../runtime/actor-process.ts";
import { LifecycleStore } from "../../runtime/lifecycle-recorder.ts";
import { Registry } from "../../runtime/registry.ts";
import type { Namespace } from "../../runtime/namespace.ts";
import { memberId } from "../rank-members.ts";
import { connectNats } from "../../runtime/connection.ts";
import { namespace } from "../../runtime/namespace.ts";
import { call } from "../../runtime/rpc.ts";
import { PublishedView, type JobOutcome } from "../jobs/job-output.ts";
import { FINAL_JOB_STATES, JobRecords, type JobRecord } from "../jobs/job-records.ts";
import { JobEscalatedError } from "./errors.ts";
import { runDistributed } from "./run-distributed.ts";

const i = process.argv.indexOf("--job");
const jobId = i >= 0 ? process.argv[i + 1] : undefined;
if (!jobId) {
  console.error("usage: actors/coordinator/main.ts --job <job id>");
  process.exit(2);
}
const env = actorEnvironment();
const actor = new ActorProcess(env);
await actor.start();
process.on("SIGINT", () => undefined); // Ctrl-C to the agent's process group is not for a job: `troupe stop` is
const ns = namespace(env.clusterId);
const nc = await connectNats({
  url: env.natsUrl,
  token: env.token,
  caFile: env.caFile,
  name: env.actorId,
  waitOnFirstConnect: false,
  timeoutMs: 5000,
});
const records = await JobRecords.open(nc, ns);
const view = new PublishedView(nc, ns.jobOutputSubject(jobId), (line) => console.log(line));

async function finish(outcome: JobOutcome, checkpoint: string | null): Promise<never> {
  await records
    .update(jobId!, () => ({ state: outcome.state, cause: outcome.cause ?? null, endedAt: Date.now(), checkpoint }))
    .catch((err: unknown) => console.error(`job record not written: ${(err as Error).message}`));
  view.done(outcome);
  await view.settled().catch(() => undefined);
  // the job service stops supervising this coordinator, so it is not started again once it exits
  await call(nc, ns.jobsSubject("ended"), { jobId }, 10_000).catch(() => undefined);
  await actor.stop().catch(() => undefined);
  await nc.drain().catch(() => undefined);
  process.exit(0);
}

/**
 * A coordinator started again: take the job over when its workers had loaded (they hold the state); otherwise stop
 * whatever workers are left and start the job again (from its newest checkpoint, if it has one).
 */
async function howToContinue(nc: NatsConnection, ns: Namespace, id: string, rec: JobRecord): Promise<"take over" | "restart"> {
  const job = await (await LifecycleStore.open(nc, ns)).get("job", id);
  const value = job?.value;
  const loaded =
    typeof value === "string"
      ? ["training", "checkpointing", "stopping"].includes(value)
      : value !== null && typeof value === "object" && ("recovering" in value || "escalating" in value);
  if (loaded) return "take over";
  const registry = await Registry.open(nc, ns);
  const { dp, pp, tp } = rec.layout;
  for (let rank = 0; rank < dp * pp * tp; rank++) {
    const w = await registry.getActor(memberId(id, rank));
    if (w?.pid != null && w.host !== null && w.state !== "dead")
      await call(nc, ns.agentSubject(w.host, "kill"), { actorId: w.id, signal: "SIGKILL", pid: w.pid }, 2000).catch(() => undefined);
  }
  return "restart";
}

const rec = await records.get(jobId);
if (!rec) {
  console.error(`no job '${jobId}' in cluster ${env.clusterId}`);
  process.exit(2);
}
if (FINAL_JOB_STATES.has(rec.state))
  await finish({ state: rec.state as JobOutcome["state"], ...(rec.cause ? { cause: rec.cause } : {}) }, rec.checkpoint);
const started: JobRecord = await records.update(jobId, (r) => ({
  state: "running",
  startedAt: r.startedAt ?? Date.now(),
  coordinatorStarts: r.coordinatorStarts + 1,
}));
const stop = new AbortController();
try {
  const r = started.request;
  const how = started.coordinatorStarts > 1 ? await howToContinue(nc, ns, jobId, started) : "start";
  if (how !== "start")
    view.say(
      `coordinator of job ${jobId} started again (start ${started.coordinatorStarts}): ${how === "take over" ? "taking the job over from its running workers" : "the job had not finished loading: it starts again"}`,
    );
  const result = await runDistributed({
    configFile: r.configFile,
    runDir: r.runDir,
    resume: r.resume || (how === "restart" && latestCheckpointDir(path.join(r.runDir, "checkpoints")) !== undefined),
    takeOver: how === "take over",
    ...(r.steps !== undefined ? { steps: r.steps } : {}),
    ...(r.threads !== undefined ? { threads: r.threads } : {}),
    noSamples: r.noSamples,
    ...(r.backendsModule !== undefined ? { backendsModule: r.backendsModule } : {}),
    natsUrl: env.natsUrl,
    ...(env.token !== undefined ? { token: env.token } : {}),
    ...(env.caFile !== undefined ? { caFile: env.caFile } : {}),
    clusterId: env.clusterId,
    jobId,
    view,
    tty: false,
    stop: stop.signal,
  });
  const stopped: JobOutcome = {
    state: "stopped",
    cause: result.stopReason ?? "stopped",
    ...(result.stoppedBy ? { signal: result.stoppedBy } : {}),
  };
  await finish(result.interrupted ? stopped : { state: "completed" }, result.checkpointDir || null);
} catch (err) {
  const e = err as Error;
  view.say(`job ${jobId} failed: ${e.message}`);
  await finish({ state: "failed", cause: e.message }, err instanceof JobEscalatedError ? (err.checkpoint.dir ?? null) : null);
}
