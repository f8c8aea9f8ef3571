// Opens NAME.bin / NAME.idx read-only: the token file is memory-mapped (native mapFile), never copied.
import { existsSync, readFileSync, statSync } from "node:fs";
import { mapFile } from "../../native/mod.ts";
import { decodeIdx, dtypeWidth } from "./dataset-format.ts";
import { DataFileError } from "./errors.ts";
import type { IndexedDataset, TokenDtype } from "./types.ts";

function readIdx(path: string): Uint8Array {
  if (!existsSync(path)) throw new DataFileError(path, "index file does not exist");
  try {
    return readFileSync(path);
  } catch (cause) {
    throw new DataFileError(path, `cannot read index (${(cause as Error).message})`, { cause });
  }
}

function mapTokens(path: string, dtype: TokenDtype, tokenCount: number): Uint16Array | Uint32Array {
  if (!existsSync(path)) throw new DataFileError(path, "token file does not exist");
  const width = dtypeWidth(dtype);
  const size = statSync(path).size;
  if (size !== tokenCount * width) {
    throw new DataFileError(
      path,
      `token file is ${size} bytes but its index lists ${tokenCount} ${dtype} tokens (${tokenCount * width} bytes): truncated or corrupt`,
    );
  }
  if (tokenCount === 0) return dtype === "uint16" ? new Uint16Array(0) : new Uint32Array(0);
  let bytes: Uint8Array;
  try {
    bytes = mapFile(path);
  } catch (cause) {
    throw new DataFileError(path, `cannot map token file (${(cause as Error).message})`, { cause });
  }
  // A fresh mapping is page-aligned, so typed views over it are aligned too.
  return dtype === "uint16"
    ? new Uint16Array(bytes.buffer, bytes.byteOffset, tokenCount)
    : new Uint32Array(bytes.buffer, bytes.byteOffset, tokenCount);
}

/** `prefix` "dir/train" opens dir/train.bin and dir/train.idx; bad files throw a DataFileError naming them. */
export function openIndexedDataset(prefix: string): IndexedDataset {
  const idxPath = `${prefix}.idx`;
  const binPath = `${prefix}.bin`;
  const { dtype, documentCount, tokenCount, offsets } = decodeIdx(readIdx(idxPath), idxPath);
  const tokens = mapTokens(binPath, dtype, tokenCount);
  const documentRange = (i: number): [number, number] => {
    if (!Number.isInteger(i) || i < 0 || i >= documentCount) {
      throw new RangeError(`document ${i} is out of range: ${idxPath} has ${documentCount} documents`);
    }
    return [offsets[i]!, offsets[i + 1]!];
  };
  return {
    binPath,
    idxPath,
    dtype,
    documentCount,
    tokenCount,
    tokens,
    documentRange,
    document: (i) => tokens.subarray(...documentRange(i)),
  };
}
