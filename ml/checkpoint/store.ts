// Checkpoints on disk: <root>/step-00000042/{manifest.json, model-p0-t0.safetensors, optimizer-p0-t0.safetensors}
// and <root>/latest (the name of the newest whole checkpoint). A step folder is written under a temporary
// name and renamed when whole; `latest` is replaced (write + rename) only after that, so a crash at any
// moment leaves the previous checkpoint readable. Loading checks sizes and sha256 of every file first.
import { issueText } from "../../runtime/zod-issue.ts";
import { CheckpointError } from "./errors.ts";
import {
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  closeSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import type { NamedTensor } from "../model/types.ts";
import { assembleWholeTensors } from "./assemble.ts";
import { buildManifest, SINGLE_RANK_LAYOUT } from "./build-manifest.ts";
import {
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  manifestSchema,
  type CheckpointInfo,
  type CheckpointManifest,
  type FileRecord,
  type TensorRecord,
} from "./manifest.ts";
import type { ShardDescription } from "./shard-files.ts";
import { decodeSafetensors, sha256File, writeSafetensors, type TensorEntry } from "./safetensors.ts";
import { createHash } from "node:crypto";

export interface CheckpointContent extends CheckpointInfo {
  params: readonly NamedTensor[];
  optimizerState: readonly NamedTensor[];
}

export interface LoadedCheckpoint {
  dir: string;
  manifest: CheckpointManifest;
  params: Map<string, TensorEntry>;
  optimizerState: Map<string, TensorEntry>;
}

const LATEST = "latest";
const STEP_DIR = /^step-(\d+)$/;
const MODEL_FILE = "model-p0-t0.safetensors";
const OPTIMIZER_FILE = "optimizer-p0-t0.safetensors";

export function stepDirName(step: number): string {
  return `step-${String(step).padStart(8, "0")}`;
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function tensorRecords(
  tensors: readonly { name: string; shape: readonly number[] }[],
  kind: TensorRecord["kind"],
  file: string,
): TensorRecord[] {
  return tensors.map((t) => ({
    name: t.name,
    kind,
    file,
    dtype: "F32" as const,
    globalShape: [...t.shape],
    shape: [...t.shape],
    offset: t.shape.map(() => 0),
  }));
}

/** The two files of a single-rank checkpoint: names, tensors and safetensors metadata. */
export function singleRankFiles(
  content: CheckpointContent,
): { file: string; tensors: readonly NamedTensor[]; metadata: Record<string, string> }[] {
  const meta = { step: String(content.step), format: MANIFEST_FORMAT };
  return [
    { file: MODEL_FILE, tensors: content.params, metadata: meta },
    {
      file: OPTIMIZER_FILE,
      tensors: content.optimizerState,
      metadata: { ...meta, optimizer_step_count: String(content.optimizerStepCount) },
    },
  ];
}

type TensorShapes = readonly { name: string; shape: readonly number[] }[];

/** A single-rank checkpoint as the one shard of the layout 1×1×1: its files as written, every tensor whole. */
export function singleRankShard(content: { params: TensorShapes; optimizerState: TensorShapes }, files: FileRecord[]): ShardDescription {
  return {
    coord: { stage: 0, tpRank: 0 },
    files,
    tensors: [...tensorRecords(content.params, "param", MODEL_FILE), ...tensorRecords(content.optimizerState, "optimizer", OPTIMIZER_FILE)],
  };
}

/** True when step-N of `step` is already a whole checkpoint (same step ⇒ same state: it is kept as is). */
export function hasCheckpoint(root: string, step: number): boolean {
  return existsSync(path.join(root, stepDirName(step), MANIFEST_FILE));
}

/** Writes a single-rank (layout 1×1×1) checkpoint for `content.step` under `root`, points `latest` at it, keeps the newest `keep`. */
export function saveCheckpoint(root: string, content: CheckpointContent, options: { keep: number }): string {
  if (hasCheckpoint(root, content.step)) return commitCheckpoint(root, undefined, content.step, options);
  const stagingDir = prepareStagingDir(root, content.step);
  const files = singleRankFiles(content).map(({ file, tensors, metadata }) => {
    const full = path.join(stagingDir, file);
    const sha256 = writeSafetensors(full, tensors, metadata);
    return { file, bytes: statSync(full).size, sha256 };
  });
  return commitCheckpoint(root, buildManifest(content, SINGLE_RANK_LAYOUT, [singleRankShard(content, files)]), content.step, options);
}

/** The folder every rank writes its shard files into before the checkpoint of `step` is committed. */
export function stagingDirName(root: string, step: number): string {
  return path.join(root, `.staging-${stepDirName(step)}`);
}

/** Empties (or creates) the staging folder of `step`; call once, before any rank writes its shard files. */
export function prepareStagingDir(root: string, step: number): string {
  const dir = stagingDirName(root, step);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * Makes the staged checkpoint of `step` whole: checks every file the manifest lists is there with its size,
 * writes the manifest (last), renames the staging folder to step-N, points `latest` at it and prunes.
 * `manifest` undefined: step-N already exists whole and is only made `latest`. Called by one rank.
 */
export function commitCheckpoint(root: string, manifest: CheckpointManifest | undefined, step: number, options: { keep: number }): string {
  const name = stepDirName(step);
  const finalDir = path.join(root, name);
  const stagingDir = stagingDirName(root, step);
  if (manifest && existsSync(path.join(finalDir, MANIFEST_FILE))) {
    rmSync(stagingDir, { recursive: true, force: true }); // same step ⇒ same state: keep the existing one
  } else if (manifest) {
    if (manifest.step !== step) throw new CheckpointError(`manifest is for step ${manifest.step}, not ${step}`);
    for (const f of manifest.files) {
      const file = path.join(stagingDir, f.file);
      if (!existsSync(file)) throw new CheckpointError(`checkpoint file ${file} is missing: cannot commit step ${step}`);
      const bytes = statSync(file).size;
      if (bytes !== f.bytes) throw new CheckpointError(`checkpoint file ${file} has ${bytes} bytes, its shard reported ${f.bytes}`);
    }
    const manifestPath = path.join(stagingDir, MANIFEST_FILE);
    writeFileSync(manifestPath, JSON.stringify(manifest, null, 2) + "\n");
    const fd = openSync(manifestPath, "r");
    fsyncSync(fd);
    closeSync(fd);
    rmSync(finalDir, { recursive: true, force: true }); // a folder without a manifest is an unfinished leftover
    renameSync(stagingDir, finalDir);
  } else if (!existsSync(path.join(finalDir, MANIFEST_FILE))) {
    throw new CheckpointError(`no checkpoint ${finalDir} to make latest`);
  }
  setLatest(root, name);
  pruneCheckpoints(root, options.keep);
  return finalDir;
}

/** Points `latest` at the step folder `name` (write + rename + fsync: never half-written). */
export function setLatest(root: string, name: string): void {
  if (!STEP_DIR.test(name)) throw new CheckpointError(`${name} is not a checkpoint folder name`);
  const latestTmp = path.join(root, `${LATEST}.tmp-${process.pid}`);
  writeFileSync(latestTmp, name + "\n");
  renameSync(latestTmp, path.join(root, LATEST));
  fsyncDir(root);
}

/** Step folders under root, oldest first. */
export function listCheckpoints(root: string): { step: number; dir: string }[] {
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .map((n) => ({ n, m: STEP_DIR.exec(n) }))
    .filter((x): x is { n: string; m: RegExpExecArray } => x.m !== null)
    .map(({ n, m }) => ({ step: Number(m[1]), dir: path.join(root, n) }))
    .sort((a, b) => a.step - b.step);
}

/** Deletes all but the newest `keep` checkpoints (never the one `latest` names) and stale temporaries. */
export function pruneCheckpoints(root: string, keep: number): void {
  const latest = latestCheckpointDir(root);
  const all = listCheckpoints(root);
  for (const c of all.slice(0, Math.max(0, all.length - keep))) {
    if (c.dir !== latest) rmSync(c.dir, { recursive: true, force: true });
  }
  for (const n of readdirSync(root)) {
    if (n.startsWith(".tmp-") && !n.endsWith(`-${process.pid}`)) rmSync(path.join(root, n), { recursive: true, force: true });
    // a staging folder at or before the newest whole checkpoint is an abandoned save
    const staged = /^\.staging-step-(\d+)$/.exec(n);
    if (staged && all.length > 0 && Number(staged[1]) <= all[all.length - 1]!.step)
      rmSync(path.join(root, n), { recursive: true, force: true });
  }
}

/** The folder `latest` names, or undefined when there is no checkpoint yet. */
export function latestCheckpointDir(root: string): string | undefined {
  const pointer = path.join(root, LATEST);
  if (!existsSync(pointer)) return undefined;
  const name = readFileSync(pointer, "utf8").trim();
  if (!STEP_DIR.test(name)) throw new CheckpointError(`${pointer}: does not name a checkpoint folder (got ${JSON.stringify(name)})`);
  return path.join(root, name);
}

/** Reads and validates `dir`/manifest.json. */
export function readManifest(dir: string): CheckpointManifest {
  const file = path.join(dir, MANIFEST_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (cause) {
    const why = existsSync(file) ? "is not valid JSON (corrupt or truncated)" : "is missing";
    throw new CheckpointError(`checkpoint manifest ${file} ${why}`, { cause });
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    throw new CheckpointError(`checkpoint manifest ${file} is invalid at ${issueText(parsed.error)}`);
  }
  return parsed.data;
}

/** Reads one file of a checkpoint after checking its size and sha256 against the manifest. */
export function readCheckpointFile(dir: string, f: FileRecord): Map<string, TensorEntry> {
  const file = path.join(dir, f.file);
  if (!existsSync(file)) throw new CheckpointError(`checkpoint file ${file} is missing`);
  const bytes = readFileSync(file);
  if (bytes.length !== f.bytes) {
    throw new CheckpointError(`checkpoint file ${file} is truncated or damaged: ${bytes.length} bytes, the manifest says ${f.bytes}`);
  }
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  if (sha256 !== f.sha256) {
    throw new CheckpointError(
      `checkpoint file ${file} is corrupt: sha256 ${sha256.slice(0, 12)}… does not match the manifest's ${f.sha256.slice(0, 12)}…`,
    );
  }
  try {
    return decodeSafetensors(file, bytes).tensors;
  } catch (cause) {
    throw new CheckpointError(`checkpoint file ${file} cannot be read: ${(cause as Error).message}`, { cause });
  }
}

/**
 * Reads and verifies a checkpoint folder of any layout into whole tensors (a sharded checkpoint is reassembled).
 * Any mismatch is refused with the offending file named.
 */
export function loadCheckpoint(dir: string): LoadedCheckpoint {
  const manifest = readManifest(dir);
  const contents = new Map<string, Map<string, TensorEntry>>();
  for (const f of manifest.files) contents.set(f.file, readCheckpointFile(dir, f));
  const whole = assembleWholeTensors(dir, manifest, contents);
  return { dir, manifest, params: whole.param, optimizerState: whole.optimizer };
}

/** Copies checkpoint tensors into live tensors (in place), requiring the same names and shapes. */
export function copyTensorsInto(targets: readonly NamedTensor[], source: Map<string, TensorEntry>, what: string): void {
  if (targets.length !== source.size) {
    throw new CheckpointError(`${what}: the checkpoint has ${source.size} tensors, the model has ${targets.length}`);
  }
  for (const t of targets) {
    const s = source.get(t.name);
    if (!s) throw new CheckpointError(`${what}: the checkpoint has no tensor ${t.name}`);
    if (s.shape.join(",") !== t.shape.join(",")) {
      throw new CheckpointError(`${what}: tensor ${t.name} has shape [${s.shape}] in the checkpoint, [${t.shape}] in the model`);
    }
    t.data.set(s.data);
  }
}

export { sha256File };
