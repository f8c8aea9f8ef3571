// A job's model shape, for its model FLOP/s: from the job.json its coordinator wrote in the run directory (the config
// the workers run), else from the config file it was submitted with. Null when neither can be read from here (a
// run directory on a filesystem this machine does not mount).
import { readFileSync } from "node:fs";
import path from "node:path";
import { modelFlopsPerToken, type ModelShape } from "../../ml/parallel/model-shape.ts";
import { loadTrainConfig, parseTrainConfig, type TrainConfig } from "../../ml/train/config.ts";
import type { JobRecord } from "../../actors/jobs/job-records.ts";

function configOf(rec: JobRecord): TrainConfig {
  try {
    const job = JSON.parse(readFileSync(path.join(rec.request.runDir, "job.json"), "utf8")) as { config?: unknown };
    return parseTrainConfig(job.config, "job.json");
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
