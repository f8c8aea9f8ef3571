// The start of `troupe train`, on one rank or many: the config, the run directory and the checkpoint a resumed run
// continues from (checked against the config before anything is written), config.json and train.log.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pino, type Logger } from "pino";
import { latestCheckpointDir, listCheckpoints, readManifest } from "../checkpoint/store.ts";
import { describeCorruption, latestGoodCheckpoint, setAsideCorrupt } from "../checkpoint/verify.ts";
import { loadTrainConfig, type TrainConfig } from "./config.ts";
import { TrainRunError } from "./errors.ts";
import type { LoopStart } from "./loop.ts";
import { checkResumable, startFrom } from "./resume.ts";

export interface RunDirOptions {
  configFile: string;
  /** Continue the run in the run directory from its newest good checkpoint. */
  resume?: boolean;
  runDir?: string;
  /** Total steps for this run (overrides train.tokens / train.steps). */
  steps?: number;
  threads?: number;
}

export interface OpenedRun {
  config: TrainConfig;
  runDir: string;
  checkpointRoot: string;
  /** The checkpoint the run continues from, and where the loop starts there; both absent for a fresh run. */
  resumeFrom?: string;
  start?: LoopStart;
  log: Logger;
}

/**
 * The checkpoint a run continues from: with `resume`, the newest whole one (a corrupt newer one is skipped, `warn`
 * says so, naming the bad file, and it is renamed to <dir>.corrupt); none without. Refuses to resume with nothing (good) saved, and to start
 * afresh over a run's checkpoints (it would mix two runs).
 */
function checkpointToResume(
  runDir: string,
  checkpointRoot: string,
  resume: boolean,
  warn: (line: string) => void = (line) => process.stderr.write(line + "\n"),
): string | undefined {
  if (!resume) {
    if (latestCheckpointDir(checkpointRoot) || listCheckpoints(checkpointRoot).length > 0) {
      throw new TrainRunError(`${runDir} already holds checkpoints of a run: pass --resume to continue it, or choose another --run-dir`);
    }
    return undefined;
  }
  const good = latestGoodCheckpoint(checkpointRoot);
  if (!good.dir) {
    const why = good.skipped.length > 0 ? `: ${good.skipped.map(describeCorruption).join("; ")}` : "";
    throw new TrainRunError(`nothing to resume: no ${good.skipped.length > 0 ? "good " : ""}checkpoint in ${checkpointRoot}${why}`);
  }
  for (const bad of good.skipped) warn(`${describeCorruption(bad)}; resuming from ${good.dir}`);
  const moved = setAsideCorrupt(checkpointRoot, good);
  if (moved.length > 0) warn(`kept for inspection: ${moved.join(", ")}`);
  return good.dir;
}

/** The run directory: --run-dir, else config.runDir, else runs/<name> (relative to the working directory). */
function runDirOf(config: TrainConfig, override?: string): string {
  return path.resolve(override ?? config.runDir ?? path.join("runs", config.name));
}

/** Loads and checks everything (`check`: what this kind of run cannot do), then writes config.json and opens train.log. */
export function openRun(o: RunDirOptions, say: (line: string) => void, logName: string, check?: (config: TrainConfig) => void): OpenedRun {
  const config = loadTrainConfig(o.configFile);
  if (o.threads !== undefined) config.threads = o.threads;
  if (o.steps !== undefined && (!Number.isInteger(o.steps) || o.steps < 1))
    throw new TrainRunError(`--steps must be a positive integer, got ${o.steps}`);
  check?.(config);
  const runDir = runDirOf(config, o.runDir);
  const checkpointRoot = path.join(runDir, "checkpoints");
  const resumeFrom = checkpointToResume(runDir, checkpointRoot, o.resume === true, say);
  let start: LoopStart | undefined;
  if (resumeFrom) {
    const manifest = readManifest(resumeFrom);
    checkResumable(resumeFrom, manifest, config);
    start = startFrom(resumeFrom, manifest);
  }
  mkdirSync(runDir, { recursive: true });
  writeFileSync(path.join(runDir, "config.json"), JSON.stringify(config, null, 2) + "\n");
  const log = pino({ name: logName, base: { pid: process.pid } }, pino.destination({ dest: path.join(runDir, "train.log"), sync: true }));
  log.info({ config, resume: resumeFrom }, "run starting");
  return { config, runDir, checkpointRoot, resumeFrom, start, log };
}

/**
 * The run of a job whose driver died, opened again by the process that takes it over: the same config and run
 * directory, train.log appended to, nothing else written (the workers still hold the state; where training stands
 * comes from the job store, not from a checkpoint).
 */
export function reopenRun(o: RunDirOptions, logName: string): OpenedRun {
  const config = loadTrainConfig(o.configFile);
  if (o.threads !== undefined) config.threads = o.threads;
  const runDir = runDirOf(config, o.runDir);
  const log = pino(
    { name: logName, base: { pid: process.pid } },
    pino.destination({ dest: path.join(runDir, "train.log"), sync: true, append: true }),
  );
  log.warn("run taken over by a new driver");
  return { config, runDir, checkpointRoot: path.join(runDir, "checkpoints"), log };
}
