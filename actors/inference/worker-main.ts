// Entry point of an inference worker process, started by a host agent for the inference driver:
//   node --import tsx actors/inference/worker-main.ts --job <dir>/inference-job.json
import { actorEnvironment } from "../../runtime/actor-process.ts";
import { InferenceError } from "../../ml/parallel-model/errors.ts";
import { readInferenceJob } from "./job-spec.ts";
import { InferenceWorker } from "./worker.ts";

const i = process.argv.indexOf("--job");
const jobFile = i >= 0 ? process.argv[i + 1] : undefined;
if (!jobFile) throw new InferenceError("usage: actors/inference/worker-main.ts --job <inference-job.json>");
const worker = new InferenceWorker(actorEnvironment(), readInferenceJob(jobFile));
process.once("SIGTERM", () => {
  void worker.stop().finally(() => process.exit(0));
});
// Ctrl-C reaches the whole process group; the driver decides when workers stop.
process.on("SIGINT", () => worker.actor.log.info("SIGINT ignored: the inference driver stops this worker"));
await worker.start();
