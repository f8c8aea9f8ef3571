// The safetensors file format (https://github.com/huggingface/safetensors), fp32 tensors:
//   [8 bytes: N, little-endian u64] [N bytes: JSON header, space-padded] [raw little-endian data]
// header = { "<name>": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
//            "__metadata__": {"<key>": "<string>"} }
// Offsets are relative to the first data byte; tensors are contiguous and cover the data exactly.
// We pad the header to a multiple of 8 bytes (as the reference writer does) so data stays aligned.
import { SafetensorsError } from "./errors.ts";
import { createHash } from "node:crypto";
import { closeSync, fsyncSync, openSync, readFileSync, writeSync } from "node:fs";

export interface TensorEntry {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface SafetensorsContents {
  metadata: Record<string, string>;
  tensors: Map<string, TensorEntry>;
  /** Tensor names in file order. */
  order: string[];
}

const METADATA_KEY = "__metadata__";
const MAX_HEADER_BYTES = 100 * 1024 * 1024; // the reference reader's limit

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The header bytes (length prefix + padded JSON) for these tensors, in the order given. */
export function encodeHeader(tensors: readonly TensorEntry[], metadata: Record<string, string> = {}): Buffer {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header[METADATA_KEY] = metadata;
  let offset = 0;
  for (const t of tensors) {
    if (t.name === METADATA_KEY) throw new Error(`tensor name ${METADATA_KEY} is reserved`);
    if (t.name in header) throw new Error(`duplicate tensor name ${t.name}`);
    if (elementCount(t.shape) !== t.data.length) {
      throw new Error(`tensor ${t.name}: shape [${t.shape.join(", ")}] does not match ${t.data.length} elements`);
    }
    const end = offset + t.data.byteLength;
    header[t.name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, end] };
    offset = end;
  }
  let json = Buffer.from(JSON.stringify(header), "utf8");
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) json = Buffer.concat([json, Buffer.alloc(padded - json.length, 0x20)]);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([prefix, json]);
}

function viewBytes(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** Writes a safetensors file (fsynced) without copying tensor data; returns its sha256 (hex). */
export function writeSafetensors(file: string, tensors: readonly TensorEntry[], metadata: Record<string, string> = {}): string {
  const hash = createHash("sha256");
  const fd = openSync(file, "w");
  try {
    const head = encodeHeader(tensors, metadata);
    writeSync(fd, head);
    hash.update(head);
    for (const t of tensors) {
      const bytes = viewBytes(t.data);
      let written = 0;
      while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
      hash.update(bytes);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}

export function sha256File(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

/** Parses safetensors bytes; every structural problem is a SafetensorsError naming `file`. */
export function decodeSafetensors(file: string, bytes: Buffer): SafetensorsContents {
  if (bytes.length < 8) throw new SafetensorsError(file, `truncated: ${bytes.length} bytes, shorter than the 8-byte header length`);
  const headerLen = Number(bytes.readBigUInt64LE(0));
  if (headerLen > MAX_HEADER_BYTES) throw new SafetensorsError(file, `header length ${headerLen} is implausible (corrupt file?)`);
  if (8 + headerLen > bytes.length) {
    throw new SafetensorsError(file, `truncated: header says ${headerLen} bytes but the file has ${bytes.length - 8} after the length`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(bytes.subarray(8, 8 + headerLen).toString("utf8")) as Record<string, unknown>;
  } catch (cause) {
    throw new SafetensorsError(file, `header is not valid JSON (corrupt file?)`, { cause });
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    throw new SafetensorsError(file, "header is not a JSON object");
  }
  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const metadata = (header[METADATA_KEY] ?? {}) as Record<string, string>;
  const entries: { name: string; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === METADATA_KEY) continue;
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (e?.dtype !== "F32") throw new SafetensorsError(file, `tensor ${name}: dtype ${String(e?.dtype)} is not supported (only F32)`);
    const shape = e.shape;
    const offsets = e.data_offsets;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new SafetensorsError(file, `tensor ${name}: bad shape ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0)) {
      throw new SafetensorsError(file, `tensor ${name}: bad data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (end - begin !== elementCount(shape) * 4) {
      throw new SafetensorsError(file, `tensor ${name}: data_offsets [${begin}, ${end}] do not hold shape [${shape.join(", ")}] of F32`);
    }
    entries.push({ name, shape: shape as number[], begin, end });
  }
  entries.sort((a, b) => a.begin - b.begin);
  let expected = 0;
  for (const e of entries) {
    if (e.begin !== expected)
      throw new SafetensorsError(file, `tensor ${e.name}: data is not contiguous (starts at ${e.begin}, expected ${expected})`);
    expected = e.end;
  }
  if (expected !== dataLen) {
    const what = expected > dataLen ? "truncated" : "trailing bytes";
    throw new SafetensorsError(file, `${what}: tensors need ${expected} data bytes, the file has ${dataLen}`);
  }
  const tensors = new Map<string, TensorEntry>();
  for (const e of entries) {
    const at = bytes.byteOffset + dataStart + e.begin;
    const count = (e.end - e.begin) / 4;
    // Float32Array needs 4-byte alignment; files from other writers may not give it.
    const data =
      at % 4 === 0
        ? new Float32Array(bytes.buffer, at, count)
        : new Float32Array(new Uint8Array(bytes.subarray(dataStart + e.begin, dataStart + e.end)).buffer);
    tensors.set(e.name, { name: e.name, shape: e.shape, data });
  }
  return { metadata, tensors, order: entries.map((e) => e.name) };
}

export function readSafetensors(file: string): SafetensorsContents {
  return decodeSafetensors(file, readFileSync(file));
}
