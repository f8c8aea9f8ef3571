// The cluster's job service (in the process `troupe up` starts beside the host agent): takes submitted jobs,
// gives each a unique id and a record, and keeps one supervisor per job whose one child is the job's coordinator,
// an actor process started by a host agent like any worker. A coordinator that dies is started again and takes
// the job back from what NATS holds (actors/coordinator/takeover.ts); one that keeps dying escalates here and
// the job fails with the cause. When this service itself starts again it takes every running job back the same
// way (a coordinator it cannot see is stopped first: one job never has two).
import { randomBytes } from "node:crypto";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { z } from "zod";
import type { EventLog } from "../../runtime/event-log.ts";
import type { Logger } from "../../runtime/logger.ts";
import type { Namespace } from "../../runtime/namespace.ts";
import { checkName } from "../../runtime/namespace.ts";
import { sourcePath } from "../../runtime/paths.ts";
import type { Registry } from "../../runtime/registry.ts";
import { call, parseWith, serve } from "../../runtime/rpc.ts";
import { Supervisor } from "../../runtime/supervisor.ts";
import { validateTimeouts } from "../../runtime/timeouts.ts";
import type { Escalation, EscalationDecision } from "../../runtime/types.ts";
import { ensureJobOutputStream, PublishedView } from "./job-output.ts";
import { FINAL_JOB_STATES, jobRequestSchema, JobRecords, type JobRecord } from "./job-records.ts";
import { coordinatorIdOf, jobSupervisorIdOf } from "./job-ids.ts";

export const submitRequestSchema = z.object({
  /** An exact id the cluster refuses if taken; absent: the config's name plus a short random suffix. */
  name: z.string().min(1).max(60).optional(),
  /** The config's name (the id's stem). */
  configName: z.string().min(1),
  layout: z.object({ dp: z.number().int().positive(), pp: z.number().int().positive(), tp: z.number().int().positive() }),
  request: jobRequestSchema,
});
export type SubmitRequest = z.input<typeof submitRequestSchema>;
export interface SubmitReply {
  jobId: string;
  runDir: string;
}

const endedSchema = z.object({ jobId: z.string().min(1) });

export interface JobServiceDeps {
  nc: NatsConnection;
  ns: Namespace;
  registry: Registry;
  events: EventLog;
  logger: Logger;
}

/** A coordinator is a long-lived actor whose main loop may block for a while on a loaded machine. */
const COORDINATOR_TIMEOUTS = validateTimeouts({ heartbeatMs: 500, suspectMs: 5000, killMs: 20_000, stepMs: 600_000, startMs: 180_000 });

/** A job id from a config name: letters, digits, '_' and '-', plus a random suffix. */
function newJobId(configName: string): string {
  const stem = configName.replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 40) || "job";
  return `${stem}-${randomBytes(2).toString("hex")}`;
}

export class JobService {
  private readonly supervisors = new Map<string, Supervisor>();
  private readonly subs: Subscription[] = [];
  private records!: JobRecords;

  constructor(private readonly deps: JobServiceDeps) {}

  async start(): Promise<void> {
    const { nc, ns } = this.deps;
    this.records = await JobRecords.open(nc, ns);
    await ensureJobOutputStream(nc, ns);
    this.subs.push(
      serve<z.output<typeof submitRequestSchema>>(nc, {
        subject: ns.jobsSubject("submit"),
        parse: parseWith(submitRequestSchema),
        handle: (req) => this.submit(req),
      }),
      serve<z.output<typeof endedSchema>>(nc, {
        subject: ns.jobsSubject("ended"),
        parse: parseWith(endedSchema),
        handle: (req) => this.ended(req.jobId),
      }),
      serve<unknown>(nc, {
        subject: ns.jobsSubject("ping"),
        parse: (): { ok: true; value: unknown } => ({ ok: true, value: null }),
        handle: () => ({ pid: process.pid, jobs: this.supervisors.size }),
      }),
    );
    await nc.flush();
    for (const job of await this.records.list()) {
      if (!FINAL_JOB_STATES.has(job.state)) await this.takeBack(job);
    }
  }

  async stop(): Promise<void> {
    // the jobs go on: their coordinators are processes of the host agents, taken back when this service returns
    for (const s of this.subs) s.unsubscribe();
  }

  private async submit(req: z.output<typeof submitRequestSchema>): Promise<SubmitReply> {
    const id = req.name !== undefined ? checkName("job name", req.name) : newJobId(req.configName);
    const rec: JobRecord = {
      id,
      name: req.configName,
      request: req.request,
      layout: req.layout,
      state: "submitted",
      coordinator: coordinatorIdOf(id),
      submittedAt: Date.now(),
      startedAt: null,
      endedAt: null,
      cause: null,
      checkpoint: null,
      coordinatorStarts: 0,
    };
    await this.records.create(rec);
    await this.deps.events.publish(
      {
        type: "job.submitted",
        subject: id,
        time: rec.submittedAt,
        data: { jobId: id, config: req.request.configFile, runDir: req.request.runDir, layout: req.layout },
      },
      `job:${id}:submitted`,
    );
    await this.supervise(rec);
    return { jobId: id, runDir: req.request.runDir };
  }

  /** A coordinator says its job ended (its record is final): its supervisor stops, so it is not started again. */
  private async ended(jobId: string): Promise<{ ok: true }> {
    const s = this.supervisors.get(jobId);
    this.supervisors.delete(jobId);
    await s?.stop("job ended");
    return { ok: true };
  }

  /** A job that was running when this service last stopped: its old coordinator goes, a new one takes it over. */
  private async takeBack(job: JobRecord): Promise<void> {
    const old = await this.deps.registry.getActor(job.coordinator);
    if (old && old.pid !== null && old.host !== null && old.state !== "dead") {
      await call(
        this.deps.nc,
        this.deps.ns.agentSubject(old.host, "kill"),
        { actorId: old.id, signal: "SIGKILL", pid: old.pid },
        2000,
      ).catch(() => undefined);
    }
    this.deps.logger.warn({ job: job.id }, "taking a running job back: starting its coordinator again");
    await this.supervise(job);
  }

  private async supervise(job: JobRecord): Promise<void> {
    const supervisor = new Supervisor(
      { ...this.deps, parent: { id: "jobs", handleEscalation: (e) => this.coordinatorKeepsDying(job.id, e) } },
      {
        id: jobSupervisorIdOf(job.id),
        strategy: "one_for_one",
        intensity: { maxRestarts: 3, periodMs: 60_000 },
        backoff: { initialMs: 100, maxMs: 2000, jitter: 0.1 },
        timeouts: COORDINATOR_TIMEOUTS,
        children: [
          {
            id: job.coordinator,
            coords: {},
            cwd: job.request.cwd,
            argv: ["node", "--import", "tsx", sourcePath("actors/coordinator/main.ts"), "--job", job.id],
          },
        ],
      },
    );
    this.supervisors.set(job.id, supervisor);
    await supervisor.start();
  }

  /** Over the restart intensity: the job fails with the cause; its followers hear it. */
  private async coordinatorKeepsDying(jobId: string, e: Escalation): Promise<EscalationDecision> {
    this.supervisors.delete(jobId);
    const cause = `its coordinator kept failing: ${e.cause}`;
    await this.records.update(jobId, () => ({ state: "failed", cause, endedAt: Date.now() })).catch(() => undefined);
    const view = new PublishedView(this.deps.nc, this.deps.ns.jobOutputSubject(jobId));
    view.say(`job ${jobId} failed: ${cause}`);
    view.done({ state: "failed", cause });
    await view.settled().catch(() => undefined);
    await this.deps.events
      .publish(
        { type: "job.failed", subject: jobId, time: Date.now(), data: { cause, checkpoint: null } },
        `job:${jobId}:failed:coordinator`,
      )
      .catch(() => undefined);
    return "stop";
  }
}
