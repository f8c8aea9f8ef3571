// Loads the model weights of a checkpoint of any (pp, tp) layout into one process. The manifest gives
// every shard's block (offset and shape) inside the tensor's global shape, so shards are copied into
// whole tensors; every element must be covered exactly once. Files are checked (size, sha256) first.
import { issueText } from "../../runtime/zod-issue.ts";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { MANIFEST_FILE, manifestSchema, type CheckpointManifest, type TensorRecord } from "../checkpoint/manifest.ts";
import { decodeSafetensors, type TensorEntry } from "../checkpoint/safetensors.ts";
import { pieceData } from "../checkpoint/assemble.ts";
import { latestCheckpointDir } from "../checkpoint/store.ts";
import type { GptConfig, GptModel } from "../model/types.ts";
import { CheckpointLoadError } from "./errors.ts";

export interface CheckpointWeights {
  dir: string;
  manifest: CheckpointManifest;
  /** Whole (reassembled) parameter tensors by name. */
  params: Map<string, TensorEntry>;
}

/** A step folder (holds manifest.json) or a checkpoint root (holds `latest`) → the step folder. */
function resolveCheckpointDir(dir: string): string {
  if (existsSync(path.join(dir, MANIFEST_FILE))) return dir;
  if (!existsSync(dir)) throw new CheckpointLoadError(`checkpoint ${dir} does not exist`);
  const latest = latestCheckpointDir(dir);
  if (latest && existsSync(path.join(latest, MANIFEST_FILE))) return latest;
  const nested = path.join(dir, "checkpoints");
  if (existsSync(nested)) return resolveCheckpointDir(nested);
  throw new CheckpointLoadError(`${dir} is not a checkpoint: no ${MANIFEST_FILE} and no \`latest\` pointer`);
}

function readManifest(dir: string): CheckpointManifest {
  const file = path.join(dir, MANIFEST_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (cause) {
    throw new CheckpointLoadError(`checkpoint manifest ${file} is not valid JSON (corrupt or truncated)`, { cause });
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    throw new CheckpointLoadError(`checkpoint manifest ${file} is invalid at ${issueText(parsed.error)}`);
  }
  return parsed.data;
}

function readVerified(dir: string, record: CheckpointManifest["files"][number]): Map<string, TensorEntry> {
  const file = path.join(dir, record.file);
  if (!existsSync(file)) throw new CheckpointLoadError(`checkpoint file ${file} is missing`);
  const bytes = readFileSync(file);
  if (bytes.length !== record.bytes) {
    throw new CheckpointLoadError(
      `checkpoint file ${file} is truncated or damaged: ${bytes.length} bytes, the manifest says ${record.bytes}`,
    );
  }
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  if (sha256 !== record.sha256) throw new CheckpointLoadError(`checkpoint file ${file} is corrupt: its sha256 does not match the manifest`);
  try {
    return decodeSafetensors(file, bytes).tensors;
  } catch (cause) {
    throw new CheckpointLoadError(`checkpoint file ${file} cannot be read: ${(cause as Error).message}`, { cause });
  }
}

const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Copy a row-major block of shape `shape` into `global` (shape `globalShape`) at `offset`. */
export function copyBlock(
  block: Float32Array,
  shape: readonly number[],
  global: Float32Array,
  globalShape: readonly number[],
  offset: readonly number[],
): void {
  const rank = globalShape.length;
  if (rank === 0) {
    global[0] = block[0];
    return;
  }
  const strides = new Array<number>(rank).fill(1);
  for (let d = rank - 2; d >= 0; d--) strides[d] = strides[d + 1] * globalShape[d + 1];
  const rowLength = shape[rank - 1];
  const rows = count(shape) / Math.max(1, rowLength);
  const index = new Array<number>(rank - 1).fill(0); // position within the block, all but the last dim
  for (let r = 0; r < rows; r++) {
    let at = offset[rank - 1];
    for (let d = 0; d < rank - 1; d++) at += (offset[d] + index[d]) * strides[d];
    global.set(block.subarray(r * rowLength, (r + 1) * rowLength), at);
    for (let d = rank - 2; d >= 0; d--) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
}

function assemble(name: string, shards: TensorRecord[], files: Map<string, Map<string, TensorEntry>>, dir: string): TensorEntry {
  const globalShape = shards[0].globalShape;
  const whole = new Float32Array(count(globalShape));
  let covered = 0;
  for (const s of shards) {
    const where = path.join(dir, s.file);
    if (s.globalShape.join(",") !== globalShape.join(",")) {
      throw new CheckpointLoadError(
        `tensor ${name}: shards disagree on the global shape ([${s.globalShape}] in ${where}, [${globalShape}] elsewhere)`,
      );
    }
    if (s.shape.length !== globalShape.length || s.offset.length !== globalShape.length) {
      throw new CheckpointLoadError(`tensor ${name} in ${where}: shape/offset rank does not match the global shape [${globalShape}]`);
    }
    s.shape.forEach((n, d) => {
      if (s.offset[d] + n > globalShape[d]) {
        throw new CheckpointLoadError(
          `tensor ${name} in ${where}: block at offset [${s.offset}] of shape [${s.shape}] exceeds the global shape [${globalShape}]`,
        );
      }
    });
    const entry = files.get(s.file)?.get(name);
    if (!entry) throw new CheckpointLoadError(`checkpoint file ${where} lacks tensor ${name} listed in the manifest`);
    let piece: Float32Array;
    try {
      piece = pieceData(entry, s, where); // a tensor-parallel shard may stack several pieces (qkv: q|k|v)
    } catch (cause) {
      throw new CheckpointLoadError((cause as Error).message, { cause });
    }
    copyBlock(piece, s.shape, whole, globalShape, s.offset);
    covered += count(s.shape);
  }
  if (covered !== whole.length) {
    throw new CheckpointLoadError(
      `tensor ${name}: its shards cover ${covered} of ${whole.length} elements (missing or overlapping shards)`,
    );
  }
  return { name, shape: [...globalShape], data: whole };
}

/** Read, verify and reassemble the parameters of the checkpoint at `dir` (step folder or root). */
export function loadCheckpointWeights(dir: string): CheckpointWeights {
  const stepDir = resolveCheckpointDir(dir);
  const manifest = readManifest(stepDir);
  const paramFiles = new Set(manifest.tensors.filter((t) => t.kind === "param").map((t) => t.file));
  const files = new Map<string, Map<string, TensorEntry>>();
  for (const f of manifest.files) if (paramFiles.has(f.file)) files.set(f.file, readVerified(stepDir, f));
  const byName = new Map<string, TensorRecord[]>();
  for (const t of manifest.tensors) {
    if (t.kind !== "param") continue;
    if (!files.has(t.file)) throw new CheckpointLoadError(`tensor ${t.name} is in ${t.file}, which the manifest's file list lacks`);
    byName.set(t.name, [...(byName.get(t.name) ?? []), t]);
  }
  const params = new Map<string, TensorEntry>();
  for (const [name, shards] of byName) params.set(name, assemble(name, shards, files, stepDir));
  return { dir: stepDir, manifest, params };
}

/** The model shape recorded in the manifest's training config; vocabulary from the embedding's global shape. */
export function modelConfigOf(weights: { dir: string; manifest: CheckpointManifest }): GptConfig {
  const config = weights.manifest.config as { model?: Record<string, unknown>; data?: Record<string, unknown> } | undefined;
  const model = config?.model ?? {};
  const field = (key: string): number => {
    const v = model[key];
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
      throw new CheckpointLoadError(
        `checkpoint ${weights.dir}: manifest config.model.${key} is ${JSON.stringify(v)}, expected a positive integer`,
      );
    }
    return v;
  };
  const wte = weights.manifest.tensors.find((t) => t.kind === "param" && t.name === "wte");
  const vocabSize = wte?.globalShape[0] ?? (config?.data?.vocabSize as number | undefined);
  if (typeof vocabSize !== "number")
    throw new CheckpointLoadError(`checkpoint ${weights.dir}: cannot tell the vocabulary size (no wte tensor, no config.data.vocabSize)`);
  return { vocabSize, seqLen: field("seqLen"), layers: field("layers"), dModel: field("dModel"), heads: field("heads") };
}

/** The step folder and manifest of a checkpoint (step folder or root), without reading any weights. */
export function readCheckpointHeader(dir: string): { dir: string; manifest: CheckpointManifest } {
  const stepDir = resolveCheckpointDir(dir);
  return { dir: stepDir, manifest: readManifest(stepDir) };
}

/** Copy the checkpoint's weights into a model of the same shape (names and shapes must match). */
export function loadWeightsInto(model: GptModel, weights: CheckpointWeights): void {
  const targets = model.parameters();
  const missing = targets.filter((t) => !weights.params.has(t.name)).map((t) => t.name);
  if (missing.length > 0)
    throw new CheckpointLoadError(
      `checkpoint ${weights.dir} lacks parameters ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ", …" : ""}`,
    );
  if (targets.length !== weights.params.size) {
    const names = new Set(targets.map((t) => t.name));
    const extra = [...weights.params.keys()].filter((n) => !names.has(n));
    throw new CheckpointLoadError(`checkpoint ${weights.dir} has parameters the model lacks: ${extra.slice(0, 5).join(", ")}`);
  }
  for (const t of targets) {
    const source = weights.params.get(t.name)!;
    if (source.shape.join(",") !== t.shape.join(",")) {
      throw new CheckpointLoadError(
        `checkpoint ${weights.dir}: parameter ${t.name} has shape [${source.shape}], the model expects [${t.shape}]`,
      );
    }
    t.data.set(source.data);
  }
}
