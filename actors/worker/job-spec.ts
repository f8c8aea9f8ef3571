// What every worker of a job needs to know (its layout is the config's `parallel` section), written by
// the coordinator to `<runDir>/job.json` and named on the worker's command line (`--job FILE`).
import { issueText } from "../../runtime/zod-issue.ts";
import { readFileSync } from "node:fs";
import { z } from "zod";
import { parseTrainConfig, type TrainConfig } from "../../ml/train/config.ts";
import { JobSpecError } from "./errors.ts";
import { faultSchema, type Fault } from "./faults.ts";

const jobSpecSchema = z.object({
  jobId: z.string().regex(/^[A-Za-z0-9_-]+$/, "job id may contain only letters, digits, '_' and '-'"),
  /** Unique per start of a job: names the collectives rendezvous, so addresses of an earlier run are never used. */
  session: z.string().regex(/^[A-Za-z0-9_-]+$/, "session may contain only letters, digits, '_' and '-'"),
  config: z.unknown(),
  /**
   * Module exporting `createBackends(): TrainBackends` (data, model, optimizer); absent = the real
   * Brown pipeline with the native GPT (ml/train/default-backends.ts).
   */
  backendsModule: z.string().min(1).optional(),
  /** Checkpoint folder every worker loads its weights and optimizer state from (resume). */
  resumeFrom: z.string().min(1).optional(),
  /**
   * The job's collective key file (mode 0600, 32 random bytes, written by the coordinator beside job.json):
   * every collective TCP connection proves both ends hold it. Never sent over NATS.
   */
  collectiveKeyFile: z.string().min(1),
  /** How long a worker waits for its peers' addresses. */
  rendezvousTimeoutMs: z.number().int().positive().default(30_000),
  /** Test-only fault injection (actors/worker/faults.ts). */
  faults: z.array(faultSchema).default([]),
});

export interface JobSpec {
  jobId: string;
  session: string;
  config: TrainConfig;
  backendsModule?: string;
  resumeFrom?: string;
  collectiveKeyFile: string;
  rendezvousTimeoutMs: number;
  faults: Fault[];
}

function parseJobSpec(raw: unknown, source: string): JobSpec {
  const r = jobSpecSchema.safeParse(raw);
  if (!r.success) {
    throw new JobSpecError(`invalid job spec ${source}: ${issueText(r.error)}`);
  }
  return { ...r.data, config: parseTrainConfig(r.data.config, `job spec ${source}`) };
}

export function readJobSpec(file: string): JobSpec {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (cause) {
    throw new JobSpecError(`cannot read job spec ${file}: ${(cause as Error).message}`, { cause });
  }
  return parseJobSpec(JSON.parse(text), file);
}
