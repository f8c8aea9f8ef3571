// On-disk layout of an indexed token dataset (all integers little-endian):
//
//   NAME.idx   0  magic "TRPTOKIX" (8 bytes)
//              8  version u32 (1)
//             12  token width u32: 2 → uint16 tokens, 4 → uint32 tokens
//             16  document count u64
//             24  token count u64
//             32  (document count + 1) token offsets u64: document i is tokens [off[i], off[i+1])
//   NAME.bin      the tokens back to back, token count × width bytes
import { DataFileError } from "./errors.ts";
import type { TokenDtype } from "./types.ts";

export const IDX_MAGIC = "TRPTOKIX";
export const IDX_VERSION = 1;
const IDX_HEADER_BYTES = 32;

/** uint16 when every id fits (vocabulary ≤ 65536), else uint32. */
export function dtypeForVocab(vocabSize: number): TokenDtype {
  return vocabSize <= 65536 ? "uint16" : "uint32";
}

export function dtypeWidth(dtype: TokenDtype): 2 | 4 {
  return dtype === "uint16" ? 2 : 4;
}

export interface IdxHeader {
  dtype: TokenDtype;
  documentCount: number;
  tokenCount: number;
}

export function encodeIdxHeader(h: IdxHeader): Uint8Array {
  const bytes = new Uint8Array(IDX_HEADER_BYTES);
  const view = new DataView(bytes.buffer);
  bytes.set(new TextEncoder().encode(IDX_MAGIC), 0);
  view.setUint32(8, IDX_VERSION, true);
  view.setUint32(12, dtypeWidth(h.dtype), true);
  view.setBigUint64(16, BigInt(h.documentCount), true);
  view.setBigUint64(24, BigInt(h.tokenCount), true);
  return bytes;
}

/** Parses and checks the header and offsets of an .idx file's bytes; any inconsistency names the file. */
export function decodeIdx(bytes: Uint8Array, path: string): IdxHeader & { offsets: Float64Array } {
  if (bytes.byteLength < IDX_HEADER_BYTES) {
    throw new DataFileError(path, `truncated index: ${bytes.byteLength} bytes, the header alone is ${IDX_HEADER_BYTES}`);
  }
  const magic = new TextDecoder().decode(bytes.subarray(0, 8));
  if (magic !== IDX_MAGIC)
    throw new DataFileError(path, `not a troupe token index (magic ${JSON.stringify(magic)}, expected "${IDX_MAGIC}")`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== IDX_VERSION) throw new DataFileError(path, `index version ${version} is not supported (expected ${IDX_VERSION})`);
  const width = view.getUint32(12, true);
  if (width !== 2 && width !== 4) throw new DataFileError(path, `token width ${width} is not 2 (uint16) or 4 (uint32)`);
  const documentCount = Number(view.getBigUint64(16, true));
  const tokenCount = Number(view.getBigUint64(24, true));
  const expected = IDX_HEADER_BYTES + (documentCount + 1) * 8;
  if (bytes.byteLength !== expected) {
    throw new DataFileError(
      path,
      `index is ${bytes.byteLength} bytes but ${documentCount} documents need ${expected} (truncated or corrupt)`,
    );
  }
  const offsets = new Float64Array(documentCount + 1);
  for (let i = 0; i <= documentCount; i++) {
    offsets[i] = Number(view.getBigUint64(IDX_HEADER_BYTES + 8 * i, true));
    if (i === 0 ? offsets[0] !== 0 : offsets[i]! < offsets[i - 1]!) {
      throw new DataFileError(path, `document offset ${i} (${offsets[i]}) is out of order (corrupt index)`);
    }
  }
  if (offsets[documentCount] !== tokenCount) {
    throw new DataFileError(path, `last document ends at token ${offsets[documentCount]} but the header says ${tokenCount} tokens`);
  }
  return { dtype: width === 2 ? "uint16" : "uint32", documentCount, tokenCount, offsets };
}
