// What every worker of an inference job needs to know, written by the driver to `<dir>/inference-job.json`
// and named on the worker's command line (`--job FILE`). The checkpoint folder must be readable by every host.
import { issueText } from "../../runtime/zod-issue.ts";
import { readFileSync } from "node:fs";
import { z } from "zod";
import { InferenceError } from "../../ml/parallel-model/errors.ts";

const name = z.string().regex(/^[A-Za-z0-9_-]+$/, "may contain only letters, digits, '_' and '-'");

const inferenceJobSchema = z.object({
  jobId: name,
  /** Unique per start: names the collectives rendezvous. */
  session: name,
  /** Checkpoint step folder (any saved layout). */
  checkpoint: z.string().min(1),
  model: z.object({
    vocabSize: z.number().int().min(1),
    seqLen: z.number().int().min(1),
    layers: z.number().int().min(1),
    dModel: z.number().int().min(1),
    heads: z.number().int().min(1),
  }),
  dp: z.number().int().min(1).default(1),
  pp: z.number().int().min(1),
  tp: z.number().int().min(1),
  /** BLAS threads per worker. */
  threads: z.number().int().min(1).default(1),
  rendezvousTimeoutMs: z.number().int().positive().default(30_000),
  /** The job's collective key file (mode 0600, written by the driver beside this file); never sent over NATS. */
  collectiveKeyFile: z.string().min(1),
});
export type InferenceJobSpec = z.infer<typeof inferenceJobSchema>;

export function readInferenceJob(file: string): InferenceJobSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (cause) {
    throw new InferenceError(`cannot read inference job ${file}: ${(cause as Error).message}`, { cause });
  }
  const r = inferenceJobSchema.safeParse(raw);
  if (!r.success) {
    throw new InferenceError(`invalid inference job ${file}: ${issueText(r.error)}`);
  }
  return r.data;
}
