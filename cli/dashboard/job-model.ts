// A job's model shape, for its model FLOP/s: from the job.json its coordinator wrote in the run directory (the config
// the workers run), else from the config file it was submitted with. Null when neither can be read from here (a
// run directory on a filesystem this machine does not mount).
import path from "node:path";
import { modelFlopsPerToken, type ModelShape } from "../../ml/parallel/model-shape.ts";
import { loadTrainConfig, type TrainConfig } from "../../ml/train/config.ts";
import { readJobSpec } from "../../actors/worker/job-spec.ts";
import type { JobRecord } from "../../actors/jobs/job-records.ts";

function configOf(rec: JobRecord): TrainConfig {
  try {
    return readJobSpec(path.join(rec.request.runDir, "job.json")).config;
  } catch {
    return loadTrainConfig(rec.request.configFile);
  }
}

/** Model FLOPs per token of the job's model (ml/parallel/model-shape.ts), or null when its config cannot be read. */
export function jobFlopsPerToken(rec: JobRecord): number | null {
  try {
    const c = configOf(rec);
    const shape: ModelShape = { layers: c.model.layers, dModel: c.model.dModel, seqLen: c.model.seqLen, vocabSize: c.data.vocabSize };
    return modelFlopsPerToken(shape);
  } catch {
    return null;
  }
}
