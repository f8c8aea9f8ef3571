// Files through which fuzzy-dedup actors exchange work: NATS carries only their paths (its payload
// limit is 1 MB; a corpus is far larger). Every file is written under a temporary name and renamed
// when whole, so a task that is run again after a crash replaces the file with identical content and
// a reader never sees half of one.
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { pack, unpack } from "msgpackr";
import type { BandEntries } from "../../ml/curation/lsh-reduce.ts";
import { DedupFileError } from "./errors.ts";

function writeAtomic(file: string, data: Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

function read(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new DedupFileError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** A shard of documents: their texts, in corpus order. */
export function writeShard(file: string, texts: readonly string[]): void {
  writeAtomic(file, pack(texts));
}

export function readShard(file: string): string[] {
  const texts = unpack(read(file)) as unknown;
  if (!Array.isArray(texts) || texts.some((t) => typeof t !== "string")) throw new DedupFileError(`${file} is not a document shard`);
  return texts as string[];
}

// Binary arrays: a 4-byte tag, the element count (u32), then the raw elements. The readers copy the
// elements out, since a Buffer from readFileSync need not be aligned for typed-array views.
const HEADER = 8;

function writeArrays(file: string, tag: string, count: number, arrays: ArrayBufferView[]): void {
  const head = Buffer.alloc(HEADER);
  head.write(tag, 0, 4, "latin1");
  head.writeUInt32LE(count, 4);
  writeAtomic(file, Buffer.concat([head, ...arrays.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength))]));
}

function readArrays(file: string, tag: string): { count: number; body: Buffer } {
  const buf = read(file);
  if (buf.length < HEADER || buf.toString("latin1", 0, 4) !== tag) throw new DedupFileError(`${file} is not a ${tag} file`);
  return { count: buf.readUInt32LE(4), body: buf.subarray(HEADER) };
}

function take<T extends Float64Array | Uint32Array | Uint16Array>(
  body: Buffer,
  at: number,
  count: number,
  Kind: { new (buffer: ArrayBuffer): T; BYTES_PER_ELEMENT: number },
  file: string,
): T {
  const bytes = count * Kind.BYTES_PER_ELEMENT;
  if (at + bytes > body.length) throw new DedupFileError(`${file} is truncated`);
  const copy = new ArrayBuffer(bytes);
  new Uint8Array(copy).set(body.subarray(at, at + bytes));
  return new Kind(copy);
}

/** Band entries routed to one reducer (key f64, doc u32, band u16 per entry). */
export function writeBandEntries(file: string, e: BandEntries): void {
  writeArrays(file, "BAND", e.doc.length, [e.key, e.doc, e.band]);
}

export function readBandEntries(file: string): BandEntries {
  const { count, body } = readArrays(file, "BAND");
  return {
    key: take(body, 0, count, Float64Array, file),
    doc: take(body, 8 * count, count, Uint32Array, file),
    band: take(body, 12 * count, count, Uint16Array, file),
  };
}

/** Candidate pairs, flattened [lo0, hi0, …]. */
export function writePairs(file: string, pairs: Uint32Array): void {
  writeArrays(file, "PAIR", pairs.length, [pairs]);
}

export function readPairs(file: string): Uint32Array {
  const { count, body } = readArrays(file, "PAIR");
  return take(body, 0, count, Uint32Array, file);
}

/** Exact Jaccard similarities, one per pair. */
export function writeSims(file: string, sims: Float64Array): void {
  writeArrays(file, "SIMS", sims.length, [sims]);
}

export function readSims(file: string): Float64Array {
  const { count, body } = readArrays(file, "SIMS");
  return take(body, 0, count, Float64Array, file);
}
