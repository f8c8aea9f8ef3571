// Turning the pieces a manifest records into tensors: the data of one piece inside its stored tensor, and whole
// global tensors (for single-rank loading) put together from the pieces of any layout.
import { CheckpointAssemblyError } from "./errors.ts";
import path from "node:path";
import type { CheckpointManifest, TensorRecord } from "./manifest.ts";
import type { TensorEntry } from "./safetensors.ts";
import { checkTensorCoverage } from "./build-manifest.ts";
import { copyRegion, elementCount } from "./tensor-blocks.ts";

/** The elements of piece `record` inside its stored tensor (rows from `localOffset`, stacked along dimension 0). */
export function pieceData(entry: TensorEntry | undefined, record: TensorRecord, where: string): Float32Array {
  if (!entry)
    throw new CheckpointAssemblyError(`checkpoint file ${where} lacks tensor ${record.entry ?? record.name} listed in the manifest`);
  const row = record.localOffset ?? 0;
  const trailingMatch = entry.shape.slice(1).join(",") === record.shape.slice(1).join(",") && entry.shape.length === record.shape.length;
  const rows = record.shape[0] ?? 1;
  if (!trailingMatch || row + rows > (entry.shape[0] ?? 1)) {
    throw new CheckpointAssemblyError(
      `checkpoint file ${where}: tensor ${record.name} has shape [${entry.shape}], which cannot hold the manifest's piece [${record.shape}] at row ${row}`,
    );
  }
  const perRow = elementCount(record.shape.slice(1));
  return entry.data.subarray(row * perRow, row * perRow + elementCount(record.shape));
}

/** Whole tensors by kind and name from the verified file contents; a single whole piece is used without copying. */
export function assembleWholeTensors(
  dir: string,
  manifest: CheckpointManifest,
  contents: ReadonlyMap<string, ReadonlyMap<string, TensorEntry>>,
): { param: Map<string, TensorEntry>; optimizer: Map<string, TensorEntry> } {
  checkTensorCoverage(manifest.tensors, (m) => new CheckpointAssemblyError(`checkpoint ${dir}: ${m}`));
  const out = { param: new Map<string, TensorEntry>(), optimizer: new Map<string, TensorEntry>() };
  const byTensor = new Map<string, TensorRecord[]>();
  for (const t of manifest.tensors) {
    const key = `${t.kind} ${t.name}`;
    byTensor.set(key, [...(byTensor.get(key) ?? []), t]);
  }
  for (const pieces of byTensor.values()) {
    const { name, kind, globalShape } = pieces[0]!;
    const whole = { offset: globalShape.map(() => 0), shape: globalShape };
    if (pieces.length === 1) {
      const p = pieces[0]!;
      const data = pieceData(contents.get(p.file)?.get(p.entry ?? name), p, path.join(dir, p.file));
      out[kind].set(name, { name, shape: [...globalShape], data });
      continue;
    }
    const data = new Float32Array(elementCount(globalShape));
    for (const p of pieces) {
      const src = pieceData(contents.get(p.file)?.get(p.entry ?? name), p, path.join(dir, p.file));
      copyRegion(src, p, data, whole, p);
    }
    out[kind].set(name, { name, shape: [...globalShape], data });
  }
  return out;
}
