// Entry point of a worker process, started by a host agent for the coordinator:
//   node --import tsx actors/worker/main.ts --job <runDir>/job.json
import path from "node:path";
import { pathToFileURL } from "node:url";
import { actorEnvironment } from "../../runtime/actor-process.ts";
import { awaitSpareIdentity, SPARE_ENV } from "../../runtime/spare-start.ts";
import type { PreparedCorpus, TrainBackends } from "../../ml/train/backends.ts";
import { JobSpecError } from "./errors.ts";
import { readJobSpec } from "./job-spec.ts";
import { Worker } from "./worker.ts";

const importBackends = (module: string | undefined) =>
  module === undefined ? import("../../ml/train/default-backends.ts") : import(pathToFileURL(path.resolve(module)).href);

/** A spare's backends, whose corpus for the job's config is the one it prepared while it waited. */
function preparedAhead(s: { backends: TrainBackends; config: string; corpus: Promise<PreparedCorpus> }): TrainBackends {
  const { backends } = s;
  return { ...backends, prepareCorpus: (c) => (JSON.stringify(c) === s.config ? s.corpus : backends.prepareCorpus(c)) };
}

async function loadBackends(module: string | undefined): Promise<TrainBackends> {
  if (module === undefined) {
    const { defaultBackends } = await import("../../ml/train/default-backends.ts");
    return defaultBackends();
  }
  const mod = (await importBackends(module)) as { createBackends?: () => TrainBackends };
  if (typeof mod.createBackends !== "function") throw new JobSpecError(`backends module ${module} does not export createBackends()`);
  return mod.createBackends();
}

const i = process.argv.indexOf("--job");
const jobFile = i >= 0 ? process.argv[i + 1] : undefined;
if (!jobFile) throw new JobSpecError("usage: actors/worker/main.ts --job <job.json>");
// a warm spare (runtime/agent/spare-pool.ts) loads the job's backends and, with the default ones, prepares its
// corpus (the same for every rank: a replacement's load then only builds its model), then waits to be told which
// worker it is
let spare: { backends: TrainBackends; config: string; corpus: Promise<PreparedCorpus> } | undefined;
if (process.env[SPARE_ENV] === "1") {
  process.on("SIGINT", () => undefined); // Ctrl-C to the agent's process group is not for a spare either
  try {
    const ahead = readJobSpec(jobFile);
    if (ahead.backendsModule === undefined) {
      // awaited: a spare stands ready with it (an identity handed over meanwhile waits on stdin until it is)
      const backends = await loadBackends(undefined);
      const corpus = backends.prepareCorpus(ahead.config);
      await corpus;
      spare = { backends, config: JSON.stringify(ahead.config), corpus };
    } else {
      // a module of the job's own (tests' fault and Markov backends) is made after the identity, with its env
      await importBackends(ahead.backendsModule);
    }
  } catch {
    // the real start below reports it
  }
  if (!(await awaitSpareIdentity())) process.exit(0);
}
const job = readJobSpec(jobFile);
// the spare's default backends when the job still has them; its corpus only for the same config (preparedAhead)
const backends = spare && job.backendsModule === undefined ? preparedAhead(spare) : await loadBackends(job.backendsModule);
const worker = new Worker(actorEnvironment(), job, backends);
process.once("SIGTERM", () => {
  void worker.stop().finally(() => process.exit(0));
});
// Ctrl-C in a terminal reaches the whole process group; the coordinator decides when workers stop
// (after the step in flight and a checkpoint), so a worker ignores SIGINT.
process.on("SIGINT", () => worker.actor.log.info("SIGINT ignored: the coordinator stops this worker"));
await worker.start();
