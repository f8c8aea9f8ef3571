// Jobs submitted to the cluster, one record per job under `job.<id>` in the jobs bucket: what was asked (config,
// run directory, options), where it stands (state, coordinator, epoch) and how it ended. The job service creates
// it (a taken id is refused atomically); the job's coordinator updates it; `troupe jobs` lists them.
import { issueText } from "../../runtime/zod-issue.ts";
import { JobIdTakenError } from "./errors.ts";
import { progressKeys } from "../coordinator/job-store.ts";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { type KV } from "@nats-io/kv";
import { createKv, duringElection } from "../../runtime/jetstream-replicas.ts";
import type { NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import { decode, encode } from "../../runtime/codec.ts";
import type { MalformedEntry } from "../../runtime/registry.ts";
import type { Namespace } from "../../runtime/namespace.ts";
import { bucketKeys } from "../../runtime/kv-keys.ts";
import { retrying } from "../../runtime/retry.ts";

const JOB_STATES = ["submitted", "running", "completed", "failed", "stopped"] as const;
export type JobState = (typeof JOB_STATES)[number];
export const FINAL_JOB_STATES: ReadonlySet<JobState> = new Set(["completed", "failed", "stopped"]);

/** What the submitter asked for, as the coordinator runs it. */
export const jobRequestSchema = z.object({
  /** Absolute paths: the job runs in other processes, started elsewhere. */
  configFile: z.string().min(1),
  runDir: z.string().min(1),
  /** The submitter's working directory: the config's relative paths (data cache, data dir) mean what they meant there. */
  cwd: z.string().min(1),
  resume: z.boolean().default(false),
  steps: z.number().int().positive().optional(),
  threads: z.number().int().positive().optional(),
  noSamples: z.boolean().default(false),
  /** Tests: a module exporting createBackends() for the workers. */
  backendsModule: z.string().optional(),
});

const jobRecordSchema = z.looseObject({
  id: z.string(),
  name: z.string(),
  request: jobRequestSchema,
  layout: z.object({ dp: z.number().int(), pp: z.number().int(), tp: z.number().int() }),
  state: z.enum(JOB_STATES),
  /** The coordinator actor's id (the one child of the job's own supervisor `jobs-<id>`). */
  coordinator: z.string(),
  submittedAt: z.number(),
  startedAt: z.number().nullable(),
  endedAt: z.number().nullable(),
  /** Why it failed or stopped. */
  cause: z.string().nullable(),
  /** The checkpoint it ended with (or the one to resume from). */
  checkpoint: z.string().nullable(),
  /** Times its coordinator was started: above 1, a restarted coordinator took the job over. */
  coordinatorStarts: z.number().int().default(0),
});
export type JobRecord = z.output<typeof jobRecordSchema>;

const key = (jobId: string) => `job.${jobId}`;

export class JobRecords {
  private constructor(
    private readonly kv: KV,
    private readonly jsm: JetStreamManager,
    private readonly bucket: string,
  ) {}

  static async open(nc: NatsConnection, ns: Namespace): Promise<JobRecords> {
    return new JobRecords(await createKv(nc, ns.jobsBucket, { history: 8 }), await jetstreamManager(nc), ns.jobsBucket);
  }

  /** Creates the record; refuses an id that is taken (atomically: two submitters of one name cannot both win). */
  async create(rec: JobRecord): Promise<void> {
    try {
      await this.kv.create(key(rec.id), encode(rec));
    } catch (err) {
      if ((await this.kv.get(key(rec.id)))?.operation === "PUT")
        throw new JobIdTakenError(`job id '${rec.id}' is taken: choose another --name, or remove the old job with troupe gc`);
      throw err;
    }
  }

  async get(jobId: string, onMalformed?: (m: MalformedEntry) => void): Promise<JobRecord | null> {
    const e = await duringElection(() => this.kv.get(key(jobId)));
    if (!e || e.operation !== "PUT") return null;
    return this.parse(e.key, e.value, onMalformed);
  }

  /** Read-modify-write of one record (a coordinator's state changes; only it writes its job after submission). */
  async update(jobId: string, change: (rec: JobRecord) => Partial<JobRecord>): Promise<JobRecord> {
    const rec = await this.get(jobId);
    if (!rec) throw new Error(`no job '${jobId}' in the cluster`);
    const next = { ...rec, ...change(rec) };
    await retrying(() => this.kv.put(key(jobId), encode(next)));
    return next;
  }

  /** Every job, oldest first; malformed entries are skipped and reported. */
  async list(onMalformed?: (m: MalformedEntry) => void): Promise<JobRecord[]> {
    const out: JobRecord[] = [];
    for (const k of await bucketKeys(this.jsm, this.bucket, "job.")) {
      const e = await duringElection(() => this.kv.get(k));
      if (!e || e.operation !== "PUT") continue;
      const rec = this.parse(k, e.value, onMalformed);
      if (rec) out.push(rec);
    }
    return out.sort((a, b) => a.submittedAt - b.submittedAt);
  }

  /** Forgets a job: its record and its progress (so that its id can be used again by a new job). */
  async remove(jobId: string): Promise<void> {
    for (const k of [key(jobId), ...progressKeys(jobId)]) await this.kv.purge(k);
  }

  private parse(k: string, value: Uint8Array, onMalformed?: (m: MalformedEntry) => void): JobRecord | null {
    try {
      const r = jobRecordSchema.safeParse(decode(value));
      if (r.success) return r.data;
      onMalformed?.({ bucket: this.bucket, key: k, reason: issueText(r.error, { quote: "", root: "value" }) });
    } catch (err) {
      onMalformed?.({ bucket: this.bucket, key: k, reason: (err as Error).message });
    }
    return null;
  }
}
